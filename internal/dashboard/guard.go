package dashboard

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// GuardOptions configure Guard.
type GuardOptions struct {
	// Listen is the daemon's --listen address (host:port). Its host is
	// one of the names the daemon answers to without a token.
	Listen string
	// ExternalURL is --external-url, the address people open (optional).
	// Its host is answered to without a token as well: it is the name a
	// proxy or an alert's link reaches the daemon by.
	ExternalURL string
	// TokenRequired says the handler behind the guard demands the
	// --auth-token (RequireToken). The Host allow-list is then off: a page
	// that rebinds its own name to the daemon's address holds no token and
	// the browser sends it no cookie, so it gets only 401s, while clients
	// that do hold the token may reach the daemon by any name (a Service,
	// a pod IP, an Ingress).
	TokenRequired bool
}

// Guard wraps the daemon's whole HTTP server against browsers being used
// as a way in, a threat that a token alone does not cover on loopback,
// where there is no token by default:
//
//   - DNS rebinding: without a token, only requests whose Host is a
//     loopback name or address, the --listen host or the --external-url
//     host are answered; a page at attacker.example whose name is made to
//     resolve to 127.0.0.1 sends Host: attacker.example and gets 403.
//   - Cross-site requests: a request a browser marks as coming from
//     another site (Sec-Fetch-Site other than same-origin or none), or
//     whose Origin is not the Host it was sent to, gets 403, with or
//     without a token. Without this, any page the operator visits could
//     make the browser POST a costly PromQL query to 127.0.0.1:8080 (a
//     "simple" form POST needs no CORS preflight). Unlike
//     http.CrossOriginProtection, which lets GET through, this refuses
//     every method: a GET of /api/v1/query runs the query too (an <img>
//     can send it). The one exception is a person following a link to one
//     of the dashboard's pages (a top-level GET navigation, such as an
//     alert's /incidents/ID opened from Slack or mail in a browser): the
//     page is a static shell, and it then reads its data same-origin.
//     Non-browser clients (curl, Grafana's server-side proxy, promtool,
//     `nodewatch --server`) send neither header and are not affected.
//
// /healthz and /readyz always pass: kubelet probes send the pod IP as
// Host. Every response, refusals and 401s included, carries
// X-Content-Type-Options: nosniff, so no browser reads an error text or
// a JSON answer as a script or a page.
func Guard(o GuardOptions, next http.Handler) (http.Handler, error) {
	var errs []error
	if next == nil {
		errs = append(errs, errors.New("guard: the handler to guard must be set"))
	}
	hosts := map[string]bool{}
	if host, _, err := net.SplitHostPort(o.Listen); err != nil {
		errs = append(errs, fmt.Errorf("guard: listen %q is not host:port: %w", o.Listen, err))
	} else if host != "" {
		hosts[hostName(host)] = true
	}
	if o.ExternalURL != "" {
		if u, err := url.Parse(o.ExternalURL); err != nil || u.Scheme == "" || u.Hostname() == "" {
			errs = append(errs, fmt.Errorf("guard: external URL %q is not an absolute URL", o.ExternalURL))
		} else {
			hosts[hostName(u.Hostname())] = true
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			next.ServeHTTP(w, r)
			return
		}
		if !o.TokenRequired {
			if h := hostName(r.Host); !hosts[h] && !loopbackName(h) {
				http.Error(w, fmt.Sprintf("nodewatch: refusing Host %q: without --auth-token it answers only to loopback, "+
					"the --listen host and the --external-url host (a guard against DNS rebinding); open it by one of those, "+
					"set --external-url to the address you open, or set --auth-token", r.Host), http.StatusForbidden)
				return
			}
		}
		if why := crossSite(r); why != "" {
			http.Error(w, "nodewatch: refusing a cross-site request ("+why+"): another site's page may not call this daemon; "+
				"open nodewatch at its own address (curl, Grafana and other non-browser clients are not affected)", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	}), nil
}

// crossSite says why r comes from another site's page, or "" when it does
// not (or is a person following a link to a page, see Guard).
func crossSite(r *http.Request) string {
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		if !pageNavigation(r) {
			return "Sec-Fetch-Site: " + site
		}
	}
	// Browsers that predate Sec-Fetch-Site still send Origin with every
	// POST and every cross-origin fetch.
	if origin := r.Header.Get("Origin"); origin != "" {
		if u, err := url.Parse(origin); err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
			return fmt.Sprintf("Origin %q is not %q", origin, r.Host)
		}
	}
	return ""
}

// pageNavigation reports whether r is a top-level GET navigation to one of
// the dashboard's pages (Handler's page routes): what a click on a link
// sends. Nothing else qualifies — no API, no /metrics, no frame, no POST —
// so that a link or window.open from another site can at most open a page.
func pageNavigation(r *http.Request) bool {
	if (r.Method != http.MethodGet && r.Method != http.MethodHead) ||
		r.Header.Get("Sec-Fetch-Mode") != "navigate" || r.Header.Get("Sec-Fetch-Dest") != "document" {
		return false
	}
	p := r.URL.Path
	switch p {
	case "/", "/incidents", "/audit", "/recommendations":
		return true
	}
	for _, prefix := range []string{"/nodes/", "/pods/", "/incidents/"} {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}

// hostName is a Host header's or an address's host, as compared: no port,
// no IPv6 brackets, lower case, no trailing dot ("LocalHost.:8080" is
// "localhost").
func hostName(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// loopbackName reports whether a Host names this machine only: localhost,
// 127.0.0.0/8 or ::1. A page cannot rebind these names (browsers resolve
// localhost themselves, and an address is not looked up at all).
func loopbackName(h string) bool {
	if h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}
