package dashboard

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestEscaping: a pod named like markup, and an event message and a pod
// message carrying script, reach the browser only as escaped text — in the
// HTML the server renders and in the JSON the script reads — and the
// script never parses data as HTML.
func TestEscaping(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t)

	rec := get(t, h, "/pods/web/"+url.PathEscape(xss), nil)
	body := rec.Body.String()
	if rec.Code != 200 {
		t.Fatalf("pod page: %d", rec.Code)
	}
	if strings.Contains(body, "<img") || strings.Contains(body, "<script>window") || strings.Contains(body, `onerror="`) {
		t.Errorf("the pod page carries the name as markup:\n%s", body)
	}
	if !strings.Contains(body, "&lt;img src=x onerror=&#34;window.__xss=1&#34;&gt;") {
		t.Errorf("the pod page does not carry the name as escaped text:\n%s", body)
	}

	for _, path := range []string{"/api/ui/pods/web/" + url.PathEscape(xss), "/api/ui/nodes/n2", "/api/ui/incidents/" + f.failure, "/api/ui/overview",
		"/api/ui/audit", "/api/ui/recommendations"} {
		rec := get(t, h, path+"?range=3h"+end, nil)
		b := rec.Body.String()
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", path, rec.Code, b)
		}
		if strings.Contains(b, "<img") || strings.Contains(b, "<script") {
			t.Errorf("%s: raw markup in JSON", path)
		}
		if path != "/api/ui/overview" && !strings.Contains(b, `\u003cimg src=x onerror=\"window.__xss=1\"\u003e`) {
			t.Errorf("%s: the message is not in the JSON as escaped text: %s", path, b)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: Content-Type %q, nosniff %q", path, ct, rec.Header().Get("X-Content-Type-Options"))
		}
	}

	// A namespace named like markup, asked for in the URL, comes back as
	// escaped text in the audit's and the recommendations' JSON (the
	// script then shows it with textContent, as the e2e test checks).
	for _, path := range []string{"/api/ui/audit", "/api/ui/recommendations"} {
		rec := get(t, h, path+"?namespace="+url.QueryEscape(xss), nil)
		if b := rec.Body.String(); rec.Code != 200 || strings.Contains(b, "<img") || !strings.Contains(b, `"namespace":"\u003cimg src=x onerror=\"window.__xss=1\"\u003e`) {
			t.Errorf("%s?namespace=<markup>: %d %s", path, rec.Code, b)
		}
	}

	// The script builds the DOM with createElement/textContent only.
	js := get(t, h, "/ui/static/app.js", nil).Body.String()
	for i, line := range strings.Split(js, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "//") {
			continue
		}
		for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "javascript:"} {
			if strings.Contains(line, sink) {
				t.Errorf("app.js:%d uses %s", i+1, sink)
			}
		}
	}
	// Every href it builds starts with a fixed path and encodes the rest.
	for _, m := range regexp.MustCompile(`href: ([^,}]+)`).FindAllStringSubmatch(js, -1) {
		if !strings.HasPrefix(m[1], "'/") {
			t.Errorf("app.js builds a link from data: href: %s", m[1])
		}
	}
}

func TestRequireToken(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("secret data")) })
	h := RequireToken("s3cret-token", ok)
	for _, tc := range []struct {
		name     string
		path     string
		header   string
		cookie   string
		code     int
		location string
	}{
		{name: "no token", path: "/", code: 401},
		{name: "API without a token", path: "/api/v1/query?query=up", code: 401},
		{name: "bearer", path: "/api/v1/incidents", header: "Bearer s3cret-token", code: 200},
		{name: "wrong bearer", path: "/", header: "Bearer s3cret-tokeN", code: 401},
		{name: "prefix of the token", path: "/", header: "Bearer s3cret", code: 401},
		{name: "basic auth is not a bearer", path: "/", header: "Basic czNjcmV0LXRva2Vu", code: 401},
		{name: "query token sets a cookie and drops itself", path: "/nodes/n1?range=6h&token=s3cret-token", code: 303, location: "/nodes/n1?range=6h"},
		{name: "a path that reads as another host stays on this one", path: "//evil.example/x?token=s3cret-token", code: 303, location: "/evil.example/x"},
		{name: "wrong query token", path: "/?token=nope", code: 401},
		{name: "cookie", path: "/incidents", cookie: "s3cret-token", code: 200},
		{name: "wrong cookie", path: "/incidents", cookie: "guess", code: 401},
		{name: "liveness probe", path: "/healthz", code: 200},
		{name: "readiness probe", path: "/readyz", code: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, tc.path, nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			if tc.cookie != "" {
				r.AddCookie(&http.Cookie{Name: TokenCookie, Value: tc.cookie})
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tc.code {
				t.Fatalf("%d %s, want %d", rec.Code, rec.Body, tc.code)
			}
			if tc.code == 401 && (strings.Contains(rec.Body.String(), "secret data") || rec.Header().Get("WWW-Authenticate") == "") {
				t.Errorf("401 leaks data or lacks WWW-Authenticate: %s", rec.Body)
			}
			if tc.location != "" {
				if got := rec.Header().Get("Location"); got != tc.location {
					t.Errorf("Location %q, want %q", got, tc.location)
				}
				c := rec.Result().Cookies()
				if len(c) != 1 || c[0].Name != TokenCookie || !c[0].HttpOnly || c[0].SameSite != http.SameSiteStrictMode {
					t.Errorf("cookie %+v, want an HttpOnly SameSite=Strict %s", c, TokenCookie)
				}
			}
		})
	}
	if RequireToken("", ok) == nil {
		t.Fatal("no handler without a token")
	}
	rec := httptest.NewRecorder()
	RequireToken("", ok).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != 200 {
		t.Errorf("an empty token must not guard: %d", rec.Code)
	}
}
