package incident

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nodewatch/nodewatch/internal/detect"
	"github.com/nodewatch/nodewatch/internal/health"
	"github.com/nodewatch/nodewatch/internal/notify"
)

// Announcing an incident: "never late, never lost".
//
// When an incident opens, escalates or resolves, the message it is owed
// is recorded on the incident itself (Incident.Owed) and committed with it
// by the next Flush — before anything slow happens. From there it becomes
// a message in the durable outbox:
//
//   - a first message goes as soon as its enrichment (likely cause, log
//     tails) is in, and at the latest EnrichWait after the verdict;
//   - a node failure that follows another within GroupWindow is a
//     follow-up: it waits for the window to close and goes out with every
//     other follow-up of the window in one message (Alertmanager's
//     group_wait of zero and group_interval); the window then starts
//     again, so a cascade costs one message per window;
//   - recoveries are gathered in a window from the first, as before;
//   - early warnings and workload alerts are never grouped.
//
// Because the owed message is part of the incident's record, a crash or a
// restart at any moment resumes it: Unfinished returns every incident
// still owed a message, and the first Flush queues what is due. The only
// window left is between the verdict and the first commit (the same
// evaluation, milliseconds); a node still down at restart is detected
// again then.

// Enrichment is what an incident learns off the detection path.
type Enrichment struct {
	// Cause is a node failure's likely cause (nil: nothing found).
	Cause *health.Cause
	// LogTails are the last log lines of a failing workload's pods, by
	// pod name.
	LogTails map[string][]string
}

// enrichment tracks the enrichments running.
type enrichment struct {
	sem     chan struct{}
	running map[string]int // by incident ID
	wg      sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc
}

func (e *enrichment) init(concurrency int) {
	e.sem = make(chan struct{}, concurrency)
	e.running = map[string]int{}
	e.ctx, e.cancel = context.WithCancel(context.Background())
}

// wantsEnrichment: node failures have a likely cause to find, newly
// failing workloads log tails to read.
func wantsEnrichment(inc *Incident) bool {
	if inc.Node != "" {
		return inc.Rule == detect.NodeNotReady || inc.Rule == detect.NodeLeaseStale
	}
	return inc.Details != nil && len(inc.Details.Pods) > 0
}

// startEnrichment runs Enrich for inc in the background. Called with m.mu held.
func (m *Manager) startEnrichment(inc *Incident, at time.Time) {
	if m.opts.Enrich == nil || !wantsEnrichment(inc) || m.enrich.ctx.Err() != nil {
		return
	}
	m.enrich.running[inc.ID]++
	snap := *inc // the manager replaces slices, never writes into them
	m.enrich.wg.Go(func() {
		var e Enrichment
		select {
		case m.enrich.sem <- struct{}{}:
			ctx, cancel := context.WithTimeout(m.enrich.ctx, m.opts.EnrichTimeout)
			e = m.opts.Enrich(ctx, snap, at)
			cancel()
			<-m.enrich.sem
		case <-m.enrich.ctx.Done():
		}
		m.enriched(inc, e)
	})
}

// enriched keeps what an enrichment found and lets the incident's first
// message go.
func (m *Manager) enriched(inc *Incident, e Enrichment) {
	m.mu.Lock()
	if m.enrich.running[inc.ID]--; m.enrich.running[inc.ID] <= 0 {
		delete(m.enrich.running, inc.ID)
	}
	if e.Cause != nil { // an earlier cause stays when the history no longer shows it
		inc.Cause = e.Cause
		m.dirty[inc] = true
	}
	if len(e.LogTails) > 0 && inc.Details != nil {
		d := *inc.Details
		d.Pods = slices.Clone(d.Pods)
		for i := range d.Pods {
			if tail, ok := e.LogTails[d.Pods[i].Name]; ok {
				d.Pods[i].LogTail = tail
			}
		}
		inc.Details = &d
		m.dirty[inc] = true
	}
	m.mu.Unlock()
	m.kick()
}

// kick has Run flush now.
func (m *Manager) kick() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// emit records that inc is owed a message about status. Called with m.mu held.
func (m *Manager) emit(inc *Incident, status string, now time.Time, sup *notify.Superseded) {
	if inc.Node != "" && inc.Rule != detect.NodeFlapping {
		if _, flapping := m.open["node/"+inc.Node+"/flapping"]; flapping {
			inc.Notifications = append(inc.Notifications, Notification{Rule: inc.Rule, Status: status, At: now, Suppressed: "node is flapping"})
			m.dirty[inc] = true
			return
		}
	}
	o := Owed{Rule: inc.Rule, Status: status, Due: now.Add(m.opts.EnrichWait), Supersedes: sup}
	gk := inc.Rule + "/" + status
	w := m.opts.GroupWindow
	switch {
	case inc.Node == "" || w == 0 || inc.Rule == detect.NodeLeaseStale:
		// Early warnings go at once: waiting for a group would spend the
		// head start they exist for.
	case status == notify.Resolved:
		if m.windows[gk].After(now) {
			o.Due = m.windows[gk]
		} else {
			o.Due = now.Add(w)
			m.windows[gk] = o.Due
		}
		o.Grouped = true
	case m.windows[gk].After(now):
		o.Due, o.Grouped = m.windows[gk], true
	default:
		m.windows[gk] = now.Add(w)
	}
	inc.Owed = append(inc.Owed, o)
	m.owing[inc] = true
	m.dirty[inc] = true
}

// resume takes up, after a restart, the messages a loaded incident is owed.
func (m *Manager) resume(inc *Incident) {
	if len(inc.Owed) == 0 {
		return
	}
	m.owing[inc] = true
	for _, o := range inc.Owed {
		if gk := o.Rule + "/" + o.Status; o.Grouped && o.Due.After(m.windows[gk]) {
			m.windows[gk] = o.Due
		}
	}
}

// announce turns the owed messages that are due into queued messages: an
// incident's own messages in order, follow-ups of one rule and status
// together. Called with m.mu held.
func (m *Manager) announce(now time.Time) {
	for {
		owing := make([]*Incident, 0, len(m.owing))
		for inc := range m.owing {
			owing = append(owing, inc)
		}
		slices.SortFunc(owing, func(a, b *Incident) int { return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.ID, b.ID)) })
		type groupKey struct{ rule, status string }
		var order []groupKey
		groups := map[groupKey][]*Incident{}
		progress := false
		for _, inc := range owing {
			o := inc.Owed[0]
			if now.Before(o.Due) && (o.Grouped || m.enrich.running[inc.ID] > 0) {
				continue
			}
			if o.Grouped {
				k := groupKey{o.Rule, o.Status}
				if groups[k] == nil {
					order = append(order, k)
				}
				groups[k] = append(groups[k], inc)
				continue
			}
			m.queue(now, o.Rule, o.Status, false, inc)
			progress = true
		}
		for _, k := range order {
			m.queue(now, k.rule, k.status, true, groups[k]...)
			if k.status == notify.Firing && m.opts.GroupWindow > 0 {
				m.windows[k.rule+"/"+k.status] = now.Add(m.opts.GroupWindow)
			}
			progress = true
		}
		if !progress {
			return
		}
	}
}

// queue builds one message about incs, each of which is owed it first,
// and records it on each.
func (m *Manager) queue(now time.Time, rule, status string, followUp bool, incs ...*Incident) {
	for _, inc := range incs {
		if status == notify.Resolved && inc.Node != "" {
			// The whole timeline: events of the last moments of the
			// failure may have been on their way when it resolved.
			inc.Events = m.view.Events("Node", "", inc.Node)
		}
	}
	msg := m.message(now, rule, status, followUp, incs)
	for _, inc := range incs {
		if sup := inc.Owed[0].Supersedes; sup != nil && status == notify.Firing {
			msg.Supersedes = sup
		}
		inc.Owed = inc.Owed[1:]
		if len(inc.Owed) == 0 {
			inc.Owed = nil
			delete(m.owing, inc)
		}
		inc.Notifications = append(inc.Notifications, Notification{Key: msg.Key, Rule: rule, Status: status, At: now})
		m.dirty[inc] = true
	}
	m.unsaved = append(m.unsaved, msg)
}

// Flush queues the messages that are due and commits what changed. The
// daemon calls it after each evaluation; Run calls it when an owed
// message falls due.
func (m *Manager) Flush() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.announce(m.opts.Now().UTC())
	if len(m.dirty) == 0 && len(m.unsaved) == 0 {
		return nil
	}
	incs := make([]*Incident, 0, len(m.dirty))
	for inc := range m.dirty {
		incs = append(incs, inc)
	}
	if err := m.p.Commit(incs, m.unsaved); err != nil {
		// Keep everything: the next Flush tries again. Detection goes on.
		return fmt.Errorf("saving %d incidents and %d messages (will retry): %w", len(incs), len(m.unsaved), err)
	}
	if len(m.unsaved) > 0 && m.opts.Committed != nil {
		m.opts.Committed()
	}
	m.dirty, m.unsaved = map[*Incident]bool{}, nil
	return nil
}

// NextDue is when the earliest owed message falls due (zero: none is owed).
func (m *Manager) NextDue() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	var next time.Time
	for inc := range m.owing {
		if d := inc.Owed[0].Due; next.IsZero() || d.Before(next) {
			next = d
		}
	}
	return next
}

// Run flushes whenever an owed message falls due or an enrichment comes
// in, until ctx ends; then it stops the enrichments and flushes once more.
// onErr hears failed commits (they are retried).
func (m *Manager) Run(ctx context.Context, onErr func(error)) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if err := m.Flush(); err != nil && onErr != nil {
			onErr(err)
		}
		wait := time.Second // a failed commit is retried within a second
		if next := m.NextDue(); !next.IsZero() {
			wait = min(wait, max(next.Sub(m.opts.Now()), time.Millisecond))
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			m.enrich.cancel()
			m.enrich.wg.Wait()
			if err := m.Flush(); err != nil && onErr != nil {
				onErr(err)
			}
			return
		case <-m.wake:
		case <-timer.C:
		}
	}
}

// WaitEnrichments waits until every enrichment started so far is in (for
// tests and benchmarks).
func (m *Manager) WaitEnrichments() { m.enrich.wg.Wait() }
