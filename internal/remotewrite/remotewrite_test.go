package remotewrite

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"

	"github.com/nodewatch/nodewatch/internal/collect"
)

func sample(pod string, t int64, v float64) collect.Sample {
	return collect.Sample{Labels: labels.FromStrings("__name__", "container_memory_working_set_bytes", "pod", pod), T: t, V: v}
}

func decode(t *testing.T, body []byte) *prompb.WriteRequest {
	t.Helper()
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		t.Fatal(err)
	}
	var req prompb.WriteRequest
	if err := req.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	return &req
}

func TestEncode(t *testing.T) {
	body, err := Encode([]collect.Sample{sample("a", 1000, 1), sample("b", 1000, 2), sample("a", 2000, 3)})
	if err != nil {
		t.Fatal(err)
	}
	req := decode(t, body)
	if len(req.Timeseries) != 2 {
		t.Fatalf("series %+v, want 2", req.Timeseries)
	}
	a := req.Timeseries[0]
	if len(a.Labels) != 2 || a.Labels[1].Value != "a" || len(a.Samples) != 2 || a.Samples[1].Timestamp != 2000 || a.Samples[1].Value != 3 {
		t.Errorf("series a: %+v", a)
	}
}

// receiver follows the remote-write contract: it answers with the given
// statuses in turn (200 once they run out) and records what it took.
type receiver struct {
	mu       sync.Mutex
	statuses []int
	got      []*prompb.WriteRequest
	t        *testing.T
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if req.Header.Get("Content-Encoding") != "snappy" || req.Header.Get("Content-Type") != "application/x-protobuf" ||
		req.Header.Get("X-Prometheus-Remote-Write-Version") == "" {
		http.Error(w, "bad headers", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.statuses) > 0 {
		st := r.statuses[0]
		r.statuses = r.statuses[1:]
		if st == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		w.WriteHeader(st)
		return
	}
	r.got = append(r.got, decode(r.t, body))
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

func TestWriterRetriesAndKeepsOrder(t *testing.T) {
	rec := &receiver{t: t, statuses: []int{500, 429, 503}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	var sent, dropped int
	var mu sync.Mutex
	w, err := New(srv.URL+"/api/v1/write", Options{MinBackoff: 10 * time.Millisecond,
		Sent: func(n int) { mu.Lock(); sent += n; mu.Unlock() }, Dropped: func(n int) { mu.Lock(); dropped += n; mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go w.Run(ctx)
	w.Enqueue([]collect.Sample{sample("a", 1000, 1)})
	w.Enqueue([]collect.Sample{sample("a", 2000, 2), sample("b", 2000, 5)})
	for rec.count() < 2 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	if rec.count() != 2 {
		t.Fatalf("received %d batches, want 2", rec.count())
	}
	if rec.got[0].Timeseries[0].Samples[0].Timestamp != 1000 || len(rec.got[1].Timeseries) != 2 {
		t.Errorf("batches out of order or incomplete: %+v", rec.got)
	}
	// The receiver keeps a batch before the writer reads its answer and
	// counts it, so the count of the last batch may come a moment later.
	counts := func() (int, int) { mu.Lock(); defer mu.Unlock(); return sent, dropped }
	for s, _ := counts(); s < 3 && ctx.Err() == nil; s, _ = counts() {
		time.Sleep(10 * time.Millisecond)
	}
	if s, d := counts(); s != 3 || d != 0 {
		t.Errorf("sent %d dropped %d, want 3 and 0", s, d)
	}
}

func TestWriterDropsRejectedAndOverflow(t *testing.T) {
	rec := &receiver{t: t, statuses: []int{400}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	var dropped int
	var mu sync.Mutex
	w, err := New(srv.URL, Options{MaxQueued: 2, Dropped: func(n int) { mu.Lock(); dropped += n; mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	// Not running yet: the third batch pushes the first out.
	w.Enqueue([]collect.Sample{sample("a", 1000, 1)})
	w.Enqueue([]collect.Sample{sample("a", 2000, 2)})
	w.Enqueue([]collect.Sample{sample("a", 3000, 3)})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go w.Run(ctx)
	for rec.count() < 1 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	// The 400 dropped the 2000 batch; the 3000 one arrived.
	if rec.count() != 1 || rec.got[0].Timeseries[0].Samples[0].Timestamp != 3000 {
		t.Fatalf("received %+v", rec.got)
	}
	mu.Lock()
	defer mu.Unlock()
	if dropped != 2 {
		t.Errorf("dropped %d samples, want 2 (one overflowed, one rejected)", dropped)
	}
}

func TestNewRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"", "localhost:9090", "ftp://x/y", "http://"} {
		if _, err := New(u, Options{}); err == nil {
			t.Errorf("New(%q): no error", u)
		}
	}
}

// TestQueueBoundedInBytes: while the store is unreachable, the queue
// keeps the newest batches that fit MaxQueuedBytes, dropping (and
// counting) the oldest.
func TestQueueBoundedInBytes(t *testing.T) {
	var dropped int
	w, err := New("http://127.0.0.1:1/api/v1/write", Options{MaxQueuedBytes: 1000, Dropped: func(n int) { dropped += n }})
	if err != nil {
		t.Fatal(err)
	}
	one := size([]collect.Sample{sample("a", 1000, 1)})
	for i := range 100 {
		w.Enqueue([]collect.Sample{sample("a", int64(1000*(i+1)), 1)})
	}
	if w.queued > 1000 || len(w.queue) != int(1000/one) || dropped != 100-len(w.queue) {
		t.Errorf("queued %d bytes in %d batches (one is %d), dropped %d", w.queued, len(w.queue), one, dropped)
	}
	if last := w.queue[len(w.queue)-1].samples[0].T; last != 100_000 {
		t.Errorf("the newest batch was dropped: last queued at %d", last)
	}
}

// TestSecretsStayOutOfErrors: credentials in the remote-write URL (user
// info, a token in the path or query) appear in no error the writer
// returns or logs, whether the store answers an error or cannot be reached.
func TestSecretsStayOutOfErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no", 500) }))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, raw := range []string{
		"http://user:s3cret@" + host + "/api/v1/write",
		"http://" + host + "/s3cret/api/v1/write?token=s3cret",
		"http://user:s3cret@127.0.0.1:1/api/v1/write?token=s3cret",
	} {
		w, err := New(raw, Options{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		err = w.send(context.Background(), []collect.Sample{sample("a", 1000, 1)})
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: error %v", raw, err)
		}
	}
	if _, err := New("ftp://user:s3cret@x/y", Options{}); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("a refused URL's error: %v", err)
	}
}
