package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nodewatch/nodewatch/internal/config"
)

// TestDaemonToken: commands send $NODEWATCH_AUTH_TOKEN to a guarded daemon,
// and say what is missing when it refuses them.
func TestDaemonToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`[]`))
	}))
	defer srv.Close()
	t.Setenv(config.EnvAuthToken, "")
	if _, _, err := loadIncidents(context.Background(), srv.URL, t.TempDir()); err == nil || !strings.Contains(err.Error(), config.EnvAuthToken) {
		t.Errorf("without the token: %v, want an error naming $%s", err, config.EnvAuthToken)
	}
	t.Setenv(config.EnvAuthToken, "s3cret")
	list, from, err := loadIncidents(context.Background(), srv.URL, t.TempDir())
	if err != nil || from == "" || list == nil {
		t.Errorf("with the token: %v %q %v", list, from, err)
	}
}
