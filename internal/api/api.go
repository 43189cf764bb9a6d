// Package api serves the daemon's HTTP endpoints: /healthz, /readyz,
// /metrics and the JSON API behind `nodewatch incidents` (and, later, the
// dashboard): /api/v1/incidents and /api/v1/incidents/{id}.
package api

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nodewatch/nodewatch/internal/incident"
)

// Incidents is the incident history.
type Incidents interface {
	Incidents() ([]incident.Incident, error)
}

// Handler returns the daemon's mux. ready reports whether the informers
// have synced.
func Handler(incs Incidents, ready func() bool, reg *prometheus.Registry) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, "informers not synced", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /api/v1/incidents", func(w http.ResponseWriter, _ *http.Request) {
		list, err := incs.Incidents()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if list == nil {
			list = []incident.Incident{}
		}
		writeJSON(w, list)
	})
	mux.HandleFunc("GET /api/v1/incidents/{id}", func(w http.ResponseWriter, r *http.Request) {
		list, err := incs.Incidents()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		for _, i := range list {
			if i.ID == r.PathValue("id") {
				writeJSON(w, i)
				return
			}
		}
		http.Error(w, "no such incident", http.StatusNotFound)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
