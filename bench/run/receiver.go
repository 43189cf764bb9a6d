package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nodewatch/nodewatch/internal/notify/slack/slacktest"
)

// ---- the receiver ----

// arrival is a message the receiver accepted, timed when its request came in.
type arrival struct {
	At     time.Time `json:"at"`
	Header string    `json:"header"`
}

// receiver is slacktest's Slack-contract receiver behind a handler that
// timestamps each request on arrival.
type receiver struct {
	rx  *slacktest.Receiver
	srv *httptest.Server
	mu  sync.Mutex
	got []arrival
}

func newReceiver() *receiver {
	r := &receiver{rx: slacktest.New()}
	inner := r.rx.Config.Handler
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		at := time.Now()
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		inner.ServeHTTP(sw, req)
		if sw.status != http.StatusOK {
			logf("receiver rejected a message: %d", sw.status)
			return
		}
		var m slacktest.Message
		_ = json.Unmarshal(body, &m)
		h := m.Text
		if len(m.Blocks) > 0 && m.Blocks[0].Text != nil {
			h = m.Blocks[0].Text.Text
		}
		r.mu.Lock()
		r.got = append(r.got, arrival{At: at, Header: h})
		r.mu.Unlock()
	}))
	return r
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (r *receiver) URL() string { return r.srv.URL }

func (r *receiver) Close() {
	r.srv.Close()
	r.rx.Close()
}

func (r *receiver) all() []arrival {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// first is the arrival time of the first message after since whose header
// matches, or zero.
func (r *receiver) first(since time.Time, match func(string) bool) time.Time {
	for _, a := range r.all() {
		if a.At.After(since) && match(a.Header) {
			return a.At
		}
	}
	return time.Time{}
}

// contended reports whether another message was accepted within 1.1 s
// before at: the daemon's Slack sink sends at most one per second, so such a
// message may have held this one back.
func (r *receiver) contended(at time.Time) bool {
	for _, a := range r.all() {
		if a.At.Before(at) && at.Sub(a.At) < 1100*time.Millisecond {
			return true
		}
	}
	return false
}

// The matchers take Slack headers, "<emoji> <title>".
func downTitle(n string) func(string) bool {
	return func(h string) bool { return titled(h, n+" is down") }
}

func earlyTitle(n string) func(string) bool {
	return func(h string) bool { return titled(h, "early warning: "+n+" stopped heartbeating") }
}

func recoveredTitle(n string) func(string) bool {
	return func(h string) bool { return strings.Contains(" "+h, " "+n+" recovered (") }
}

func titled(header, title string) bool {
	return header == title || strings.HasSuffix(header, " "+title)
}
