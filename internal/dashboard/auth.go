package dashboard

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// TokenCookie carries the auth token after a browser opened ?token=.
const TokenCookie = "nodewatch_token"

// RequireToken guards next with a shared token, for a daemon listening
// beyond loopback. A request passes with "Authorization: Bearer <token>"
// (curl, Grafana, `nodewatch --server`), with the cookie set after a
// browser opened any page with ?token=<token> once (it is then redirected
// to the same URL without the token, so it stays out of the history and
// of Referer headers), or when it is a liveness or readiness probe
// (/healthz, /readyz: kubelets do not send tokens). An empty token turns
// the guard off. Tokens are compared in constant time.
func RequireToken(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := sha256.Sum256([]byte(token))
	ok := func(got string) bool {
		h := sha256.Sum256([]byte(got))
		return got != "" && subtle.ConstantTimeCompare(h[:], want[:]) == 1
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			next.ServeHTTP(w, r)
			return
		}
		if v, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); found && ok(strings.TrimSpace(v)) {
			next.ServeHTTP(w, r)
			return
		}
		q := r.URL.Query()
		if q.Has("token") && ok(q.Get("token")) {
			http.SetCookie(w, &http.Cookie{Name: TokenCookie, Value: token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
				Secure: r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"})
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				q.Del("token")
				u := *r.URL
				u.RawQuery = q.Encode()
				http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if c, err := r.Cookie(TokenCookie); err == nil && ok(c.Value) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="nodewatch"`)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte("nodewatch: unauthorized. Open this address once with ?token=<the --auth-token> " +
			"(a cookie keeps you signed in), or send \"Authorization: Bearer <token>\".\n"))
	})
}
