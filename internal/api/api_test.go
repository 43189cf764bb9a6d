package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nodewatch/nodewatch/internal/incident"
)

type incidentList []incident.Incident

func (l incidentList) Incidents() ([]incident.Incident, error) { return l, nil }

// TestIncidentPages: /api/v1/incidents answers at most a page at a time,
// newest first, with a Link to the next page; following the links yields
// every incident once.
func TestIncidentPages(t *testing.T) {
	var list incidentList
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := range 1234 {
		list = append(list, incident.Incident{ID: fmt.Sprintf("id-%04d", 1233-i), Start: t0.Add(-time.Duration(i) * time.Minute)})
	}
	srv := httptest.NewServer(Handler(list, func() bool { return true }, prometheus.NewRegistry()))
	defer srv.Close()
	seen := map[string]bool{}
	next, pages := srv.URL+"/api/v1/incidents", 0
	for next != "" {
		resp, err := http.Get(next)
		if err != nil {
			t.Fatal(err)
		}
		var page []incident.Incident
		if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close() // decoded above
		pages++
		if len(page) > DefaultPage {
			t.Fatalf("a page of %d", len(page))
		}
		for _, i := range page {
			if seen[i.ID] {
				t.Fatalf("%s twice", i.ID)
			}
			seen[i.ID] = true
		}
		next = ""
		if l := resp.Header.Get("Link"); l != "" {
			ref, _, _ := strings.Cut(strings.TrimPrefix(l, "<"), ">")
			next = srv.URL + ref
		}
	}
	if len(seen) != len(list) || pages != 3 {
		t.Errorf("%d incidents in %d pages, want %d in 3", len(seen), pages, len(list))
	}
	resp, err := http.Get(srv.URL + "/api/v1/incidents?limit=100000")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close() // only the status and headers are checked
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("limit=100000: %d, want 400", resp.StatusCode)
	}
}
