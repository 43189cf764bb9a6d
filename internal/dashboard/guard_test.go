package dashboard

import (
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// daemon is the daemon's HTTP stack as internal/app builds it — Guard
// around RequireToken around the mux — with a stand-in for the query API
// that records whether it ran, and the real dashboard behind "/".
type daemon struct {
	http.Handler
	queried bool
}

func newDaemon(t *testing.T, token string, o GuardOptions) *daemon {
	t.Helper()
	d := &daemon{}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/query", func(w http.ResponseWriter, _ *http.Request) {
		d.queried = true
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success"}`))
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.Handle("/", newFixture(t).handler(t))
	o.TokenRequired = token != ""
	h, err := Guard(o, RequireToken(token, mux))
	if err != nil {
		t.Fatal(err)
	}
	d.Handler = h
	return d
}

// A request as a browser or a program sends it.
type request struct {
	method, path, host string
	// site, mode and dest are Sec-Fetch-Site, -Mode and -Dest.
	site, mode, dest, origin string
}

func (d *daemon) do(rq request) *httptest.ResponseRecorder {
	var body *strings.Reader
	if rq.method == http.MethodPost {
		body = strings.NewReader("query=count_over_time({__name__=~\".+\"}[14d])")
	} else {
		body = strings.NewReader("")
	}
	r := httptest.NewRequest(rq.method, rq.path, body)
	if rq.method == http.MethodPost {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	r.Host = rq.host
	for k, v := range map[string]string{"Sec-Fetch-Site": rq.site, "Sec-Fetch-Mode": rq.mode, "Sec-Fetch-Dest": rq.dest, "Origin": rq.origin} {
		if v != "" {
			r.Header.Set(k, v)
		}
	}
	rec := httptest.NewRecorder()
	d.ServeHTTP(rec, r)
	return rec
}

const (
	local    = "127.0.0.1:8080"
	external = "https://nodewatch.example"
)

// TestGuardRefusesTheAttacker plays a web page the operator visits while
// nodewatch runs on loopback without a token: it may not make the browser
// run a query (form POST, fetch, <img>), nor reach the daemon by
// rebinding its own name to 127.0.0.1 — and no refused request reaches the
// query API. Programs, the dashboard's own requests and probes still pass.
func TestGuardRefusesTheAttacker(t *testing.T) {
	const query = "/api/v1/query"
	for _, tc := range []struct {
		name string
		request
		token string
		want  int
	}{
		// Cross-site requests, whatever the Host, with or without a token.
		{name: "cross-site form POST", request: request{method: "POST", path: query, host: local, site: "cross-site", mode: "navigate", dest: "document", origin: "http://evil.example"}, want: 403},
		{name: "cross-site POST marked only by Sec-Fetch-Site", request: request{method: "POST", path: query, host: local, site: "cross-site"}, want: 403},
		{name: "cross-site POST marked only by Origin (older browser)", request: request{method: "POST", path: query, host: local, origin: "http://evil.example"}, want: 403},
		{name: "cross-site GET from an <img>", request: request{method: "GET", path: query + "?query=up", host: local, site: "cross-site", mode: "no-cors", dest: "image"}, want: 403},
		{name: "same-site is not same-origin", request: request{method: "GET", path: query + "?query=up", host: local, site: "same-site", mode: "no-cors", dest: "image"}, want: 403},
		{name: "opaque origin of a sandboxed frame", request: request{method: "POST", path: query, host: local, origin: "null"}, want: 403},
		{name: "Origin on another port", request: request{method: "POST", path: query, host: local, origin: "http://127.0.0.1:9999"}, want: 403},
		{name: "cross-site POST with a token", token: "s3cret", request: request{method: "POST", path: query, host: local, site: "cross-site", origin: "http://evil.example"}, want: 403},
		{name: "cross-site navigation to an API", request: request{method: "GET", path: query + "?query=up", host: local, site: "cross-site", mode: "navigate", dest: "document"}, want: 403},
		{name: "cross-site navigation to /metrics", request: request{method: "GET", path: "/metrics", host: local, site: "cross-site", mode: "navigate", dest: "document"}, want: 403},
		{name: "dashboard page in another site's frame", request: request{method: "GET", path: "/incidents", host: local, site: "cross-site", mode: "navigate", dest: "iframe"}, want: 403},
		{name: "cross-site POST navigation to a page", request: request{method: "POST", path: "/", host: local, site: "cross-site", mode: "navigate", dest: "document", origin: "http://evil.example"}, want: 403},

		// DNS rebinding: the browser thinks it talks to attacker.example.
		{name: "rebound name", request: request{method: "POST", path: query, host: "attacker.example:8080", site: "same-origin", origin: "http://attacker.example:8080"}, want: 403},
		{name: "foreign Host from a program", request: request{method: "GET", path: query + "?query=up", host: "attacker.example"}, want: 403},
		{name: "a name that only starts like localhost", request: request{method: "GET", path: "/", host: "localhost.attacker.example:8080"}, want: 403},
		{name: "foreign Host with a token goes to the token check", token: "s3cret", request: request{method: "GET", path: query + "?query=up", host: "attacker.example"}, want: 401},

		// Who still gets through.
		{name: "program on loopback (curl, promtool)", request: request{method: "POST", path: query, host: local}, want: 200},
		{name: "localhost", request: request{method: "GET", path: query + "?query=up", host: "LocalHost:8080"}, want: 200},
		{name: "another loopback address", request: request{method: "GET", path: query + "?query=up", host: "127.1.2.3:8080"}, want: 200},
		{name: "IPv6 loopback", request: request{method: "GET", path: query + "?query=up", host: "[::1]:8080"}, want: 200},
		{name: "the --listen host", request: request{method: "GET", path: query + "?query=up", host: "192.0.2.10:8080"}, want: 200},
		{name: "the --external-url host", request: request{method: "GET", path: query + "?query=up", host: "NodeWatch.example"}, want: 200},
		{name: "any Host with a token", token: "s3cret", request: request{method: "GET", path: "/healthz", host: "10.244.1.7:8080"}, want: 200},
		{name: "same-origin POST", request: request{method: "POST", path: query, host: local, site: "same-origin", origin: "http://127.0.0.1:8080"}, want: 200},
		{name: "the dashboard's own fetch", request: request{method: "GET", path: "/api/ui/overview", host: local, site: "same-origin", mode: "cors", dest: "empty"}, want: 200},
		{name: "address typed in the browser", request: request{method: "GET", path: "/", host: local, site: "none", mode: "navigate", dest: "document"}, want: 200},
		{name: "alert's link followed from Slack in a browser", request: request{method: "GET", path: "/incidents/x", host: "nodewatch.example", site: "cross-site", mode: "navigate", dest: "document"}, want: 200},
		{name: "liveness probe by pod IP", request: request{method: "GET", path: "/healthz", host: "10.244.1.7:8080"}, want: 200},
		{name: "readiness probe, cross-site", request: request{method: "GET", path: "/readyz", host: "attacker.example", site: "cross-site", origin: "http://evil.example"}, want: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDaemon(t, tc.token, GuardOptions{Listen: "192.0.2.10:8080", ExternalURL: external})
			rec := d.do(tc.request)
			if rec.Code != tc.want {
				t.Fatalf("%d %s, want %d", rec.Code, rec.Body, tc.want)
			}
			if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q on a %d, want nosniff", got, rec.Code)
			}
			if strings.HasPrefix(tc.path, query) && d.queried != (tc.want == 200) {
				t.Errorf("the query API ran: %v, for a %d", d.queried, rec.Code)
			}
			if tc.want == 403 {
				body := rec.Body.String()
				if strings.Count(body, "\n") != 1 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
					t.Errorf("403 is not one line of text: %q (%s)", body, rec.Header().Get("Content-Type"))
				}
				if !strings.Contains(body, "--external-url") && !strings.Contains(body, "own address") {
					t.Errorf("403 does not say what to do: %s", body)
				}
			}
		})
	}
}

// TestGuardLetsEveryPageBeLinked: an alert's link, or any link to a
// dashboard page, opened from another site (Slack or mail in a browser) is
// a cross-site navigation; every page must still open.
func TestGuardLetsEveryPageBeLinked(t *testing.T) {
	d := newDaemon(t, "", GuardOptions{Listen: local, ExternalURL: external})
	for _, path := range []string{"/", "/nodes/n2", "/pods/emails/unanswered-emails-x7k2p", "/incidents", "/incidents/x", "/audit", "/recommendations?namespace=web"} {
		rec := d.do(request{method: "GET", path: path, host: "nodewatch.example", site: "cross-site", mode: "navigate", dest: "document"})
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), "/ui/static/app.js") {
			t.Errorf("%s: %d %s", path, rec.Code, rec.Body)
		}
	}
}

// TestGuardNosniff: every answer carries nosniff — pages, 401s, 403s, 404s
// — so that no browser takes an error text or a JSON answer for a script.
func TestGuardNosniff(t *testing.T) {
	for _, tc := range []struct {
		name  string
		token string
		request
		want int
	}{
		{name: "200", request: request{method: "GET", path: "/api/v1/query?query=up", host: local}, want: 200},
		{name: "401", token: "s3cret", request: request{method: "GET", path: "/api/v1/query?query=up", host: local}, want: 401},
		{name: "403", request: request{method: "GET", path: "/", host: "attacker.example"}, want: 403},
		{name: "404", request: request{method: "GET", path: "/no/such/page", host: local}, want: 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newDaemon(t, tc.token, GuardOptions{Listen: local}).do(tc.request)
			if rec.Code != tc.want || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%d with X-Content-Type-Options %q, want %d with nosniff", rec.Code, rec.Header().Get("X-Content-Type-Options"), tc.want)
			}
		})
	}
}

// TestSessionCookie: after a browser opens ?token=, it is signed in by a
// cookie that does not hold the token, over a real connection.
func TestSessionCookie(t *testing.T) {
	const token = "s3cret-token-0123456789"
	srv := httptest.NewServer(newDaemon(t, token, GuardOptions{Listen: local}))
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	var redirected []string
	c := &http.Client{Jar: jar, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		redirected = append(redirected, r.URL.RequestURI())
		return nil
	}}

	resp, err := c.Get(srv.URL + "/incidents?token=" + token)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close() // only the status and headers are checked
	if resp.StatusCode != 200 || len(redirected) != 1 || redirected[0] != "/incidents" {
		t.Fatalf("%d after redirects %v, want 200 after one to /incidents", resp.StatusCode, redirected)
	}
	u, _ := url.Parse(srv.URL)
	cookies := jar.Cookies(u)
	if len(cookies) != 1 || cookies[0].Name != TokenCookie {
		t.Fatalf("cookies %v, want one %s", cookies, TokenCookie)
	}
	if v := cookies[0].Value; v == "" || strings.Contains(v, token) || strings.Contains(v, "s3cret") {
		t.Errorf("the cookie carries the token: %q", v)
	}

	// The next request is signed in by the cookie alone.
	resp, err = c.Get(srv.URL + "/api/v1/query?query=up")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close() // only the status and headers are checked
	if resp.StatusCode != 200 {
		t.Errorf("with the session cookie: %d, want 200", resp.StatusCode)
	}

	// The cookie's value is no token: sent as one, it is refused.
	r, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/query?query=up", nil)
	r.Header.Set("Authorization", "Bearer "+cookies[0].Value)
	resp, err = http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close() // only the status and headers are checked
	if resp.StatusCode != 401 {
		t.Errorf("the cookie's value as a Bearer token: %d, want 401", resp.StatusCode)
	}
}

// TestSessionCookieUpgrade: a cookie that still holds the raw token (set
// by an earlier version) signs in once and is replaced by the derived one.
func TestSessionCookieUpgrade(t *testing.T) {
	const token = "s3cret-token"
	h := RequireToken(token, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest(http.MethodGet, "/incidents", nil)
	r.AddCookie(&http.Cookie{Name: TokenCookie, Value: token})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	c := rec.Result().Cookies()
	if rec.Code != 200 || len(c) != 1 || c[0].Value != sessionValue(token) || !c[0].HttpOnly || c[0].SameSite != http.SameSiteStrictMode {
		t.Errorf("%d, cookies %+v: want 200 and the derived HttpOnly SameSite=Strict cookie in place of the token", rec.Code, c)
	}
}

func TestGuardOptions(t *testing.T) {
	ok := http.NotFoundHandler()
	for _, tc := range []struct {
		name    string
		o       GuardOptions
		next    http.Handler
		wantErr []string
	}{
		{name: "loopback", o: GuardOptions{Listen: local}, next: ok},
		{name: "all interfaces with an external URL", o: GuardOptions{Listen: ":8080", ExternalURL: "https://nodewatch.example/prefix"}, next: ok},
		{name: "listen without a port", o: GuardOptions{Listen: "localhost"}, next: ok, wantErr: []string{"listen"}},
		{name: "relative external URL", o: GuardOptions{Listen: local, ExternalURL: "/nodewatch"}, next: ok, wantErr: []string{"external URL"}},
		{name: "every problem at once", o: GuardOptions{Listen: "nowhere", ExternalURL: "nodewatch.example"}, wantErr: []string{"listen", "external URL", "handler"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Guard(tc.o, tc.next)
			if len(tc.wantErr) == 0 {
				if err != nil || h == nil {
					t.Fatalf("Guard: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %s", err, want)
				}
			}
		})
	}
}
