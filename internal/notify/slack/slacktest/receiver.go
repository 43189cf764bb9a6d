// Package slacktest is a local stand-in for a Slack incoming webhook that
// holds senders to Slack's documented contract: a JSON POST with text or
// blocks; at most 50 blocks; section text up to 3,000 characters, header text
// up to 150; 400 invalid_payload / invalid_blocks / no_text for bad
// messages; 429 with Retry-After when rate limited. Tests program faults
// (5xx, 429) and read back what was accepted.
package slacktest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Message is an accepted message as Slack would have stored it.
type Message struct {
	Text   string          `json:"text"`
	Blocks []Block         `json:"blocks"`
	Raw    json.RawMessage `json:"-"`
}

// Block is the part of a Block Kit block the contract checks.
type Block struct {
	Type string `json:"type"`
	Text *struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"text,omitempty"`
	Elements []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"elements,omitempty"`
}

// Fault is a programmed answer: Status with an optional Retry-After. With
// Hang the receiver answers nothing until Heal or until the sender gives
// up, then answers Status.
type Fault struct {
	Status     int
	RetryAfter string
	Hang       bool
}

// Receiver is a running stand-in webhook.
type Receiver struct {
	*httptest.Server
	mu       sync.Mutex
	accepted []Message
	rejected int
	faults   []Fault
	failing  *Fault
	refuse   map[string]Fault // by a string of the message body
	healed   chan struct{}    // closed by Heal: hanging requests end
	notify   chan struct{}
}

// New starts a receiver on loopback.
func New() *Receiver {
	r := &Receiver{notify: make(chan struct{}, 1), healed: make(chan struct{})}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	return r
}

// FailNext makes the next len(f) requests answer with those faults.
func (r *Receiver) FailNext(f ...Fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = append(r.faults, f...)
}

// FailAll makes every request answer with f until Heal.
func (r *Receiver) FailAll(f Fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failing = &f
}

// Refuse answers f to every message whose body contains text, until Heal.
func (r *Receiver) Refuse(text string, f Fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refuse == nil {
		r.refuse = map[string]Fault{}
	}
	r.refuse[text] = f
}

// Heal ends FailAll and Refuse.
func (r *Receiver) Heal() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failing, r.refuse = nil, nil
	close(r.healed)
	r.healed = make(chan struct{})
}

// Messages returns a copy of the accepted messages.
func (r *Receiver) Messages() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.accepted...)
}

// Rejected counts requests answered with an error.
func (r *Receiver) Rejected() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rejected
}

// Arrived is signalled (without blocking) when a message is accepted.
func (r *Receiver) Arrived() <-chan struct{} { return r.notify }

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fail := func(status int, body string) {
		r.rejected++
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
	if len(r.faults) > 0 || r.failing != nil {
		var f Fault
		if len(r.faults) > 0 {
			f, r.faults = r.faults[0], r.faults[1:]
		} else {
			f = *r.failing
		}
		if f.Hang {
			healed := r.healed
			r.mu.Unlock()
			select {
			case <-healed:
			case <-req.Context().Done():
			}
			r.mu.Lock()
		}
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		fail(f.Status, http.StatusText(f.Status))
		return
	}
	if req.Method != http.MethodPost {
		fail(http.StatusMethodNotAllowed, "invalid_request")
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		fail(http.StatusBadRequest, "invalid_payload")
		return
	}
	var m Message
	if err := json.Unmarshal(body, &m); err != nil {
		fail(http.StatusBadRequest, "invalid_payload")
		return
	}
	m.Raw = body
	for text, f := range r.refuse {
		if strings.Contains(string(body), text) {
			fail(f.Status, http.StatusText(f.Status))
			return
		}
	}
	if m.Text == "" && len(m.Blocks) == 0 {
		fail(http.StatusBadRequest, "no_text")
		return
	}
	if err := Validate(&m); err != nil {
		fail(http.StatusBadRequest, "invalid_blocks: "+err.Error())
		return
	}
	r.accepted = append(r.accepted, m)
	select {
	case r.notify <- struct{}{}:
	default:
	}
	_, _ = io.WriteString(w, "ok")
}

// Validate checks Slack's size limits on a message.
func Validate(m *Message) error {
	if n := utf8.RuneCountInString(m.Text); n > 40000 {
		return fmt.Errorf("text has %d characters, limit 40000", n)
	}
	if len(m.Blocks) > 50 {
		return fmt.Errorf("%d blocks, limit 50", len(m.Blocks))
	}
	for i, b := range m.Blocks {
		limit := map[string]int{"section": 3000, "header": 150}[b.Type]
		if b.Text != nil && limit > 0 {
			if n := utf8.RuneCountInString(b.Text.Text); n > limit {
				return fmt.Errorf("blocks[%d] (%s) text has %d characters, limit %d", i, b.Type, n, limit)
			}
			if b.Type == "header" && b.Text.Type != "plain_text" {
				return fmt.Errorf("blocks[%d]: header text must be plain_text", i)
			}
		}
	}
	return nil
}

// RetryAfterSeconds formats seconds for Fault.RetryAfter.
func RetryAfterSeconds(s int) string { return strconv.Itoa(s) }
