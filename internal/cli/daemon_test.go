package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nodewatch/nodewatch/internal/api"
	"github.com/nodewatch/nodewatch/internal/config"
	"github.com/nodewatch/nodewatch/internal/incident"
)

// TestDaemonToken: commands send $NODEWATCH_AUTH_TOKEN to a guarded daemon,
// and say what is missing when it refuses them.
func TestDaemonToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(`[]`)) // the client under test sees what arrived
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

type incidentList []incident.Incident

func (l incidentList) Incidents() ([]incident.Incident, error) { return l, nil }

// TestIncidentsFollowPages: `nodewatch incidents` reads every page of a
// daemon's incidents, not the first 500, and follows no link to another host.
func TestIncidentsFollowPages(t *testing.T) {
	var list incidentList
	for i := range 1200 {
		list = append(list, incident.Incident{ID: fmt.Sprintf("i%04d", i)})
	}
	srv := httptest.NewServer(api.Handler(list, func() bool { return true }, prometheus.NewRegistry()))
	defer srv.Close()
	got, _, err := loadIncidents(context.Background(), srv.URL, t.TempDir())
	if err != nil || len(got) != 1200 || got[1199].ID != "i1199" {
		t.Fatalf("%d incidents, %v; want all 1200", len(got), err)
	}
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", `<http://attacker.example/api/v1/incidents?continue=x>; rel="next"`)
		_, _ = w.Write([]byte(`[]`)) // the client under test sees what arrived
	}))
	defer evil.Close()
	if _, _, err := loadIncidents(context.Background(), evil.URL, t.TempDir()); err == nil || !strings.Contains(err.Error(), "a next page at") {
		t.Errorf("a link to another host: %v", err)
	}
}
