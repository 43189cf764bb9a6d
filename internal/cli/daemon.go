package cli

import (
	"net/http"
	"os"

	"github.com/nodewatch/nodewatch/internal/config"
)

// daemonTransport authenticates requests to a daemon started with
// --auth-token: the same token, from $NODEWATCH_AUTH_TOKEN, as a bearer
// token. Without it requests go as they are (a loopback daemon needs none).
type daemonTransport struct{ token string }

func (t daemonTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.token != "" && r.Header.Get("Authorization") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+t.token)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// daemonRoundTripper is the transport every command that talks to the
// daemon (or a Prometheus behind the same token) uses.
func daemonRoundTripper() http.RoundTripper {
	return daemonTransport{token: os.Getenv(config.EnvAuthToken)}
}
