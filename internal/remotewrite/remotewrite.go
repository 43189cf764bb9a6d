// Package remotewrite forwards what nodewatch scrapes to a Prometheus-
// compatible store over the remote-write protocol (1.0: a snappy-compressed
// prompb.WriteRequest POSTed with Content-Encoding: snappy), for teams whose
// Prometheus, Thanos, VictoriaMetrics or Mimir should hold the history too.
//
// Each scrape cycle is one batch, queued in memory and sent in order by one
// goroutine; a 5xx, a 429 or a network error is retried with exponential
// backoff (honouring Retry-After), a 4xx is logged and the batch dropped (the
// store will never take it). The queue is bounded: when the store is away
// for long, the oldest batches go first, counted, since the local history
// in the data dir keeps every sample anyway.
package remotewrite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"

	"github.com/nodewatch/nodewatch/internal/collect"
	"github.com/nodewatch/nodewatch/internal/notify"
)

// Options configure a Writer.
type Options struct {
	// MaxQueued bounds the batches waiting to be sent (default 120: an
	// hour of 30 s scrapes), and MaxQueuedBytes their size, estimated
	// from their labels and values (default 128 MiB: at 1,000 nodes a
	// batch is tens of MB).
	MaxQueued      int
	MaxQueuedBytes int64
	// Timeout bounds one request (default 30 s).
	Timeout                time.Duration
	MinBackoff, MaxBackoff time.Duration // defaults 1 s and 1 min
	Client                 *http.Client
	Log                    *slog.Logger
	// Dropped, if set, counts samples given up on.
	Dropped func(n int)
	// Sent, if set, counts samples the store took.
	Sent func(n int)
}

// Writer queues batches and sends them.
type Writer struct {
	url string
	// shown is the URL as logs and errors say it: credentials can sit
	// in its user info, path or query.
	shown string
	opts  Options

	mu    sync.Mutex
	queue []batch
	// queued is the queue's estimated size in bytes.
	queued int64
	seq    uint64
	wake   chan struct{}
}

type batch struct {
	seq     uint64
	samples []collect.Sample
	bytes   int64
}

// size estimates what samples hold in memory.
func size(samples []collect.Sample) int64 {
	var n int64
	for _, s := range samples {
		n += 16 + int64(s.Labels.ByteSize()) //nolint:gosec // G115: a series' labels are far below 8 EiB
	}
	return n
}

// New returns a writer for the store's remote-write endpoint (for
// Prometheus, /api/v1/write with --web.enable-remote-write-receiver).
func New(rawURL string, o Options) (*Writer, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("remote-write URL %s: want http(s)://host[:port]/path", notify.Redact(rawURL))
	}
	if o.MaxQueued <= 0 {
		o.MaxQueued = 120
	}
	if o.MaxQueuedBytes <= 0 {
		o.MaxQueuedBytes = 128 << 20
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Minute
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Writer{url: rawURL, shown: notify.Redact(rawURL), opts: o, wake: make(chan struct{}, 1)}, nil
}

// Enqueue queues one scrape cycle's samples; it never blocks.
func (w *Writer) Enqueue(samples []collect.Sample) {
	if len(samples) == 0 {
		return
	}
	w.mu.Lock()
	w.seq++
	b := batch{w.seq, samples, size(samples)}
	w.queue = append(w.queue, b)
	w.queued += b.bytes
	var dropped int
	for len(w.queue) > 1 && (len(w.queue) > w.opts.MaxQueued || w.queued > w.opts.MaxQueuedBytes) {
		dropped += len(w.queue[0].samples)
		w.queued -= w.queue[0].bytes
		w.queue = w.queue[1:]
	}
	w.mu.Unlock()
	if dropped > 0 {
		w.opts.Log.Warn("remote-write queue full; dropped the oldest samples (the local history keeps them)", "samples", dropped)
		if w.opts.Dropped != nil {
			w.opts.Dropped(dropped)
		}
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run sends queued batches until ctx ends.
func (w *Writer) Run(ctx context.Context) {
	attempts := 0
	for {
		w.mu.Lock()
		var b batch
		if len(w.queue) > 0 {
			b = w.queue[0]
		}
		w.mu.Unlock()
		if b.samples == nil {
			select {
			case <-ctx.Done():
				return
			case <-w.wake:
				continue
			}
		}
		err := w.send(ctx, b.samples)
		var perm *permanentError
		switch {
		case err == nil || errors.As(err, &perm):
			if err != nil {
				w.opts.Log.Error("remote write rejected; batch dropped", "samples", len(b.samples), "err", err)
				if w.opts.Dropped != nil {
					w.opts.Dropped(len(b.samples))
				}
			} else if w.opts.Sent != nil {
				w.opts.Sent(len(b.samples))
			}
			attempts = 0
			w.mu.Lock()
			if len(w.queue) > 0 && w.queue[0].seq == b.seq { // not already dropped by Enqueue
				w.queued -= w.queue[0].bytes
				w.queue = w.queue[1:]
			}
			w.mu.Unlock()
		default:
			if ctx.Err() != nil {
				return
			}
			attempts++
			wait := backoff(w.opts.MinBackoff, w.opts.MaxBackoff, attempts)
			var ra *retryAfterError
			if errors.As(err, &ra) && ra.after > 0 {
				wait = ra.after
			}
			w.opts.Log.Warn("remote write failed; will retry", "err", err, "in", wait)
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
	}
}

func backoff(lo, hi time.Duration, attempts int) time.Duration {
	d := lo
	for i := 1; i < attempts && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }

type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }

// Encode builds the snappy-compressed WriteRequest for samples, one series
// per label set.
func Encode(samples []collect.Sample) ([]byte, error) {
	byLabels := map[string]int{}
	req := &prompb.WriteRequest{}
	for _, s := range samples {
		key := s.Labels.String()
		i, ok := byLabels[key]
		if !ok {
			i = len(req.Timeseries)
			byLabels[key] = i
			ts := prompb.TimeSeries{}
			s.Labels.Range(func(l labels.Label) { ts.Labels = append(ts.Labels, prompb.Label{Name: l.Name, Value: l.Value}) })
			req.Timeseries = append(req.Timeseries, ts)
		}
		req.Timeseries[i].Samples = append(req.Timeseries[i].Samples, prompb.Sample{Value: s.V, Timestamp: s.T})
	}
	raw, err := req.Marshal()
	if err != nil {
		return nil, err
	}
	return snappy.Encode(nil, raw), nil
}

func (w *Writer) send(ctx context.Context, samples []collect.Sample) error {
	body, err := Encode(samples)
	if err != nil {
		return &permanentError{fmt.Errorf("encoding: %w", err)}
	}
	ctx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return &permanentError{err}
	}
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", "nodewatch")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	resp, err := w.opts.Client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", w.shown, notify.RedactErr(err))
	}
	defer func() { _ = resp.Body.Close() }() // the reply is read; its close has nothing to report
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("%s: %s %s", w.shown, resp.Status, bytes.TrimSpace(msg))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return &retryAfterError{err, time.Duration(secs) * time.Second}
	case resp.StatusCode/100 == 4:
		return &permanentError{err}
	}
	return err
}
