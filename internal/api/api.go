// Package api serves the daemon's HTTP endpoints: /healthz, /readyz,
// /metrics and the JSON API behind `nodewatch incidents` (and, later, the
// dashboard): /api/v1/incidents and /api/v1/incidents/{id}.
package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"

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
	mux.HandleFunc("GET /api/v1/incidents", func(w http.ResponseWriter, r *http.Request) {
		limit, after, err := pageOf(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		list, err := incs.Incidents()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		page, next := paginate(list, limit, after)
		if next != "" {
			u := *r.URL
			q := u.Query()
			q.Set("continue", next)
			q.Set("limit", strconv.Itoa(limit))
			u.RawQuery = q.Encode()
			w.Header().Set("Link", "<"+u.RequestURI()+`>; rel="next"`)
		}
		writeJSON(w, page)
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

// Pages of /api/v1/incidents: newest first, DefaultPage at a time unless
// limit= asks for fewer or more (at most MaxPage); the Link header (rel=
// "next") names the next page, which starts after the ID in continue=.
const (
	DefaultPage = 500
	MaxPage     = 5000
)

func pageOf(r *http.Request) (limit int, after string, err error) {
	limit = DefaultPage
	if s := r.URL.Query().Get("limit"); s != "" {
		limit, err = strconv.Atoi(s)
		if err != nil || limit <= 0 || limit > MaxPage {
			return 0, "", fmt.Errorf("limit: %q is not a number from 1 to %d", s, MaxPage)
		}
	}
	return limit, r.URL.Query().Get("continue"), nil
}

// paginate returns the page of list after the incident with ID after
// ("": from the start), and the continue token of the next page ("" at
// the end).
func paginate(list []incident.Incident, limit int, after string) ([]incident.Incident, string) {
	start := 0
	if after != "" {
		i := slices.IndexFunc(list, func(inc incident.Incident) bool { return inc.ID == after })
		start = i + 1 // an ID pruned meanwhile starts over: better twice than never
	}
	end := min(start+limit, len(list))
	page := list[start:end]
	if page == nil {
		page = []incident.Incident{}
	}
	if end < len(list) {
		return page, list[end-1].ID
	}
	return page, ""
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
