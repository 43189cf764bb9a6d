package collect

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const resourceBody = `# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{container="app",namespace="emails",pod="ue-1"} 1.048576e+08 1732881600000
# TYPE pod_memory_working_set_bytes gauge
pod_memory_working_set_bytes{namespace="emails",pod="ue-1"} 1.1e+08 1732881600000
# TYPE container_start_time_seconds gauge
container_start_time_seconds{container="app",namespace="emails",pod="ue-1"} 1.7e+09 1732881600000
`

// TestScrapeFaults: kubelets that answer, hang, fail or talk garbage each
// get their own result; the hanging one costs its timeout and never delays
// the others; the token goes along; only the kept series are stored.
func TestScrapeFaults(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	var token string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/ok/"):
			token = r.Header.Get("Authorization")
			if strings.HasSuffix(r.URL.Path, "/resource") {
				w.Write([]byte(resourceBody))
			}
		case strings.HasPrefix(r.URL.Path, "/hang/"):
			select {
			case <-hang:
			case <-r.Context().Done():
			}
		case strings.HasPrefix(r.URL.Path, "/fail/"):
			http.Error(w, "boom", http.StatusInternalServerError)
		case strings.HasPrefix(r.URL.Path, "/garbage/"):
			w.Write([]byte("{{{ not the exposition format"))
		}
	}))
	defer srv.Close()
	var targets []Target
	for _, n := range []string{"ok", "hang", "fail", "garbage"} {
		targets = append(targets, Target{Node: n, Base: srv.URL, ResourcePath: "/" + n + "/metrics/resource", CadvisorPath: "/" + n + "/metrics/cadvisor"})
	}
	s := NewScraper(Options{Timeout: 500 * time.Millisecond, Workers: 4, InsecureTLS: true, Token: "sa-token"})
	start := time.Now()
	results := s.Scrape(context.Background(), targets, time.Unix(1732881600, 0), nil)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the scrape took %s: a hanging kubelet delayed the others", took)
	}
	byNode := map[string]Result{}
	for _, r := range results {
		byNode[r.Node] = r
	}
	if r := byNode["ok"]; r.Err != nil || len(r.Samples) != 1 || r.Samples[0].Labels.Get("node") != "ok" {
		t.Errorf("ok: %v, %d samples %v (want the container's working set only)", r.Err, len(r.Samples), r.Samples)
	}
	if token != "Bearer sa-token" {
		t.Errorf("Authorization %q", token)
	}
	for node, want := range map[string]string{"hang": "deadline exceeded", "fail": "500", "garbage": "/garbage/metrics/resource"} {
		if r := byNode[node]; r.Err == nil || !strings.Contains(r.Err.Error(), want) {
			t.Errorf("%s: error %v, want one mentioning %q", node, r.Err, want)
		}
	}
	// Without --kubelet-insecure-tls a self-signed kubelet is refused.
	strict := NewScraper(Options{Timeout: time.Second})
	if r := strict.Scrape(context.Background(), targets[:1], time.Now(), nil); r[0].Err == nil || !strings.Contains(r[0].Err.Error(), "certificate") {
		t.Errorf("self-signed certificate accepted: %v", r[0].Err)
	}
}
