// Package outbox delivers queued notifications: every message is written to
// the data dir before it is sent (by the incident manager's commit), then a
// sender per sink delivers the queue in order, at most at the sink's rate,
// retrying temporary failures with exponential backoff and jitter and
// honouring Retry-After, until the receiver takes it. A message leaves the
// queue only when delivered, or when the receiver rejects it for good (then
// it is logged and counted). Because delivered keys are remembered, a
// restart resends nothing that was recorded as delivered. One window stays:
// a crash after the receiver accepted a message and before the delivery was
// recorded (a millisecond) sends it once more on restart — at-least-once,
// as with any outbox; the webhook sink's idempotency key lets receivers
// drop that duplicate.
package outbox

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"golang.org/x/time/rate"

	"github.com/nodewatch/nodewatch/internal/notify"
)

// Entry is one message queued for one sink.
type Entry struct {
	Seq         uint64          `json:"seq"`
	Sink        string          `json:"sink"`
	Message     *notify.Message `json:"message"`
	Created     time.Time       `json:"created"`
	Attempts    int             `json:"attempts"`
	NextAttempt time.Time       `json:"nextAttempt"`
	LastError   string          `json:"lastError,omitempty"`
}

// Queue is the durable queue (package store implements it).
type Queue interface {
	// Due returns up to limit entries of sink whose NextAttempt has come,
	// in order, leaving out those queued after a waiting entry about the
	// same incident (GroupOf).
	Due(sink string, now time.Time, limit int) ([]Entry, error)
	// Delivered removes e and remembers its key as delivered.
	Delivered(e Entry, at time.Time) error
	// Retry records a failed attempt and when to try again.
	Retry(e Entry) error
	// Drop removes e after a permanent failure, keeping it as a dead letter.
	Drop(e Entry) error
}

// Sink is a named notifier with its rate.
type Sink struct {
	Name     string
	Notifier notify.Notifier
	// Rate limits messages per second (0: unlimited). Slack allows 1.
	Rate float64
}

// Metrics observes deliveries.
type Metrics interface {
	Sent(sink string, m *notify.Message, at time.Time)
	Failed(sink string, permanent bool)
	// Dead counts messages given up on, by why: rejected (the receiver
	// refused it for good), attempts (MaxAttempts failures) or age (queued
	// longer than MaxAge).
	Dead(sink, why string)
}

// Options configure a Sender.
type Options struct {
	Now func() time.Time
	Log *slog.Logger
	// MinBackoff and MaxBackoff bound the retry delay (defaults 1s and 5m).
	MinBackoff, MaxBackoff time.Duration
	// A message that failed MaxAttempts times (default 100: about 8 hours
	// at the longest backoff) or has been queued for MaxAge (default 24h)
	// is given up on: it goes to the dead letters, logged and counted.
	// Other incidents' messages never wait behind one (see Queue.Due).
	MaxAttempts int
	MaxAge      time.Duration
	Metrics     Metrics
}

// Sender delivers the queue to the sinks.
type Sender struct {
	q     Queue
	sinks []Sink
	opts  Options
	wake  chan struct{}
}

// New returns a sender; Run starts it.
func New(q Queue, sinks []Sink, opts Options) *Sender {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.MinBackoff == 0 {
		opts.MinBackoff = time.Second
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = 5 * time.Minute
	}
	if opts.MaxAttempts == 0 {
		opts.MaxAttempts = 100
	}
	if opts.MaxAge == 0 {
		opts.MaxAge = 24 * time.Hour
	}
	return &Sender{q: q, sinks: sinks, opts: opts, wake: make(chan struct{}, 1)}
}

// Wake makes the senders look at the queue now.
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends.
func (s *Sender) Run(ctx context.Context) {
	wakes := make([]chan struct{}, len(s.sinks))
	done := make(chan struct{})
	for i, sink := range s.sinks {
		wakes[i] = make(chan struct{}, 1)
		go func() {
			s.run(ctx, sink, wakes[i])
			done <- struct{}{}
		}()
	}
	for {
		select {
		case <-ctx.Done():
			for range s.sinks {
				<-done
			}
			return
		case <-s.wake:
			for _, w := range wakes {
				select {
				case w <- struct{}{}:
				default:
				}
			}
		}
	}
}

func (s *Sender) run(ctx context.Context, sink Sink, wake <-chan struct{}) {
	log := s.opts.Log.With("sink", sink.Name)
	limit := rate.Inf
	if sink.Rate > 0 {
		limit = rate.Limit(sink.Rate)
	}
	limiter := rate.NewLimiter(limit, 1)
	poll := time.NewTicker(250 * time.Millisecond)
	defer poll.Stop()
	for {
		entries, err := s.q.Due(sink.Name, s.opts.Now(), dueWindow)
		if err != nil {
			log.Error("reading the outbox", "err", err)
		}
		if len(entries) > 0 {
			// One at a time, most urgent first, then look again: a critical
			// alert queued behind a burst of warnings on a 1/s sink must
			// not wait for all of them.
			if err := limiter.Wait(ctx); err != nil {
				return
			}
			s.deliver(ctx, sink, Next(entries), log)
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-poll.C:
		}
	}
}

// shutdownGrace is how long a send under way may finish once the sender
// is stopped.
const shutdownGrace = 3 * time.Second

// dueWindow is how many due entries the sender weighs against each other.
const dueWindow = 1000

// Next picks the entry to send first from a sink's due entries (in queue
// order): those of the most urgent incident — critical before warning
// before info, firing before resolved — and, among equals, the incident
// queued first. An incident's own messages keep their order (an early
// warning goes before its escalation, a firing before its resolution).
func Next(due []Entry) Entry {
	best, bestRank := 0, rankOf(due[0].Message)
	group := map[string]int{} // incident → rank of its most urgent message
	first := map[string]int{} // incident → index of its first entry
	for i, e := range due {
		g := GroupOf(e.Message)
		r := rankOf(e.Message)
		if _, ok := first[g]; !ok {
			first[g], group[g] = i, r
		}
		group[g] = min(group[g], r)
	}
	for g, r := range group {
		if r < bestRank || (r == bestRank && first[g] < best) {
			best, bestRank = first[g], r
		}
	}
	return due[best]
}

// GroupOf names the incident a message is about (its key when it has
// none): the unit whose messages keep their order.
func GroupOf(m *notify.Message) string {
	if m.IncidentID != "" {
		return m.IncidentID
	}
	return m.Key
}

func rankOf(m *notify.Message) int {
	r := 3
	switch m.Severity { // as Message.Severity documents
	case "critical":
		r = 0
	case "warning":
		r = 1
	case "info":
		r = 2
	}
	r *= 2
	if m.Status == notify.Resolved {
		r++
	}
	return r
}

// deliver sends e and records the outcome; it reports whether e left the queue.
func (s *Sender) deliver(ctx context.Context, sink Sink, e Entry, log *slog.Logger) bool {
	// A send under way when the daemon stops gets a grace period to
	// finish: cut off mid-request, a message the receiver took would stay
	// recorded as unsent and go again at the next start.
	sendCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	stop := context.AfterFunc(ctx, func() {
		grace := time.NewTimer(shutdownGrace)
		defer grace.Stop()
		select {
		case <-grace.C:
			cancel()
		case <-sendCtx.Done():
		}
	})
	retry, err := sink.Notifier.Notify(sendCtx, e.Message)
	stop()
	cancel()
	now := s.opts.Now()
	log = log.With("key", e.Message.Key, "attempt", e.Attempts+1)
	if err == nil {
		if err := s.q.Delivered(e, now); err != nil {
			log.Error("recording a delivery", "err", err)
		}
		if s.opts.Metrics != nil {
			s.opts.Metrics.Sent(sink.Name, e.Message, now)
		}
		log.Info("notification delivered", "title", e.Message.Title, "queued_for", now.Sub(e.Created).Round(time.Millisecond))
		return true
	}
	if ctx.Err() != nil {
		return false // shutting down: the entry stays queued
	}
	e.Attempts++
	e.LastError = err.Error()
	if s.opts.Metrics != nil {
		s.opts.Metrics.Failed(sink.Name, !retry)
	}
	why := ""
	switch {
	case !retry:
		why = "rejected"
	case e.Attempts >= s.opts.MaxAttempts:
		why = "attempts"
	case now.Sub(e.Created) >= s.opts.MaxAge:
		why = "age"
	}
	if why != "" {
		log.Error("notification given up on; kept in the dead letters", "why", why, "queued_for", now.Sub(e.Created).Round(time.Second), "title", e.Message.Title, "err", err)
		if s.opts.Metrics != nil {
			s.opts.Metrics.Dead(sink.Name, why)
		}
		if err := s.q.Drop(e); err != nil {
			log.Error("dropping a notification", "err", err)
		}
		return true
	}
	wait := s.backoff(e.Attempts)
	if d, ok := notify.RetryAfter(err); ok {
		wait = max(d, 100*time.Millisecond)
	}
	e.NextAttempt = now.Add(wait)
	log.Warn("notification failed; will retry", "err", err, "in", wait.Round(time.Millisecond))
	if err := s.q.Retry(e); err != nil {
		log.Error("recording a retry", "err", err)
	}
	return false
}

// backoff is exponential from MinBackoff, capped, with ±20% jitter so many
// nodewatch replicas or sinks do not retry in step.
func (s *Sender) backoff(attempts int) time.Duration {
	d := s.opts.MinBackoff
	for i := 1; i < attempts && d < s.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.opts.MaxBackoff)
	jitter := 0.8 + 0.4*rand.Float64() //nolint:gosec // G404: retry jitter, no secret
	return time.Duration(float64(d) * jitter)
}
