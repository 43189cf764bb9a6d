package dashboard

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"
)

// TokenCookie carries the session after a browser opened ?token=.
const TokenCookie = "nodewatch_token"

// sessionValue is what the cookie carries for token: HMAC-SHA256 keyed
// with the token over a fixed label, in hex. The cookie sits in the
// browser's profile on disk and is shown by its developer tools; whoever
// copies it can use this dashboard, but cannot recover the token from it,
// so cannot send it as a Bearer token, nor reuse it where the same token
// guards something else.
func sessionValue(token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("nodewatch-session"))
	return hex.EncodeToString(m.Sum(nil))
}

// RequireToken guards next with a shared token, for a daemon listening
// beyond loopback. A request passes with "Authorization: Bearer <token>"
// (curl, Grafana, `nodewatch --server`), with the session cookie set after
// a browser opened any page with ?token=<token> once (it is then
// redirected to the same URL without the token, so it stays out of the
// history and of Referer headers), or when it is a liveness or readiness
// probe (/healthz, /readyz: kubelets do not send tokens). The cookie
// carries a value derived from the token (sessionValue), never the token
// itself; a cookie that still holds the raw token, as set by earlier
// versions, is accepted once and replaced by the derived value. An empty
// token turns the guard off. Tokens and sessions are compared in constant
// time.
func RequireToken(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	// Both sides are hashed first so that the comparison's time does not
	// depend on the length of what was sent either.
	equal := func(want string) func(string) bool {
		sum := sha256.Sum256([]byte(want))
		return func(got string) bool {
			h := sha256.Sum256([]byte(got))
			return got != "" && subtle.ConstantTimeCompare(h[:], sum[:]) == 1
		}
	}
	session := sessionValue(token)
	ok, okSession := equal(token), equal(session)
	setCookie := func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: TokenCookie, Value: session, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, //nolint:gosec // G124: Secure only over TLS; plain HTTP on loopback is the default
			Secure: r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"})
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
			setCookie(w, r)
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				q.Del("token")
				u := *r.URL
				u.RawQuery = q.Encode()
				// Back to the same page: a path starting with "//" would
				// read as another host, so the extra slashes go.
				target := u.RequestURI()
				if strings.HasPrefix(target, "//") {
					target = "/" + strings.TrimLeft(target, "/")
				}
				http.Redirect(w, r, target, http.StatusSeeOther) //nolint:gosec // G710: this request's own path on this host (above)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if c, err := r.Cookie(TokenCookie); err == nil {
			if okSession(c.Value) {
				next.ServeHTTP(w, r)
				return
			}
			if ok(c.Value) {
				setCookie(w, r)
				next.ServeHTTP(w, r)
				return
			}
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="nodewatch"`)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte("nodewatch: unauthorized. Open this address once with ?token=<the --auth-token> " +
			"(a cookie keeps you signed in), or send \"Authorization: Bearer <token>\".\n"))
	})
}
