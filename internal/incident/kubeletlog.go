package incident

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/nodewatch/nodewatch/internal/detect"
)

// A node incident keeps the end of the node's kubelet log from around the
// failure, where the kubelet answers log queries. The manager only asks:
// reading a log goes through the API server's node proxy to a kubelet
// that may not answer, so it happens elsewhere (the daemon's log reader),
// never under the manager's lock, and never delays the alert.
//
// The log is asked for when the incident opens (a kubelet whose Lease went
// stale is often still alive), and, if the kubelet did not answer then,
// once more when the node is back: its journal still holds the minutes
// before the failure. A node that was replaced answers neither time, and
// the incident says why. A restart of the daemon takes the waits up again
// from the open incidents it loads.
const (
	// logBefore and logAfter bound the log read around the incident's
	// start: the minutes before the kubelet stopped reporting, and the
	// first minutes of the failure.
	logBefore = 10 * time.Minute
	logAfter  = 2 * time.Minute
	// MaxKubeletLogLines and maxLogLine bound what an incident keeps.
	MaxKubeletLogLines = 200
	maxLogLine         = 2000
)

// LogRequest asks for the end of a node's kubelet log between From and To,
// for the incident with ID Incident.
type LogRequest struct {
	Incident string
	Node     string
	From, To time.Time
}

// logWant is an incident waiting for its kubelet log.
type logWant struct {
	inc *Incident
	// ready: ask now; asking: a request is out; again: the node came back
	// while a request was out, so a failed one is asked again.
	ready, asking, again bool
	// from and to are the range last asked for.
	from, to time.Time
}

// wantLog marks a node failure's incident as waiting for its kubelet log.
func (m *Manager) wantLog(inc *Incident) {
	if !m.opts.KubeletLogs || inc.Node == "" || (inc.Rule != detect.NodeNotReady && inc.Rule != detect.NodeLeaseStale) || inc.KubeletLog != nil {
		return
	}
	if _, ok := m.logs[inc.ID]; !ok {
		m.logs[inc.ID] = &logWant{inc: inc, ready: true}
	}
}

// wantLogAgain takes up, after a restart, an open incident's wait for its
// kubelet log: asked now if it never was, else when the node is back.
func (m *Manager) wantLogAgain(inc *Incident) {
	m.wantLog(inc)
	if w, ok := m.logs[inc.ID]; ok && inc.KubeletLogMissing != "" {
		w.ready = false
	}
}

// logNodeBack asks once more for the log of a resolved incident whose
// kubelet did not answer while it was down.
func (m *Manager) logNodeBack(inc *Incident) {
	w, ok := m.logs[inc.ID]
	switch {
	case !ok:
	case w.asking:
		w.again = true
	default:
		w.ready = true
	}
}

// KubeletLogRequests returns the kubelet logs to read now, each once: the
// answer comes back through AttachKubeletLog.
func (m *Manager) KubeletLogRequests() []LogRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.opts.Now().UTC()
	var out []LogRequest
	for id, w := range m.logs {
		if !w.ready || w.asking {
			continue
		}
		w.ready, w.asking = false, true
		start := w.inc.Start
		if !w.inc.Since.IsZero() && w.inc.Since.Before(start) {
			start = w.inc.Since
		}
		w.from, w.to = start.Add(-logBefore), minTime(start.Add(logAfter), now)
		out = append(out, LogRequest{Incident: id, Node: w.inc.Node, From: w.from, To: w.to})
	}
	return out
}

// AttachKubeletLog keeps the kubelet log read for an incident, or, when err
// is set, why there is none: asked again when the node is back if the
// incident is still open.
func (m *Manager) AttachKubeletLog(id string, lines []string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.logs[id]
	if !ok {
		return
	}
	w.asking = false
	inc := w.inc
	m.dirty[inc] = true
	switch {
	case err == nil && len(lines) == 0:
		inc.KubeletLog = []string{}
		inc.KubeletLogMissing = fmt.Sprintf("%s's kubelet log has no lines from %s to %s", inc.Node, w.from.Format(time.RFC3339), w.to.Format(time.RFC3339))
		delete(m.logs, id)
		return
	case err == nil:
		inc.KubeletLog, inc.KubeletLogMissing = boundLines(lines), ""
		delete(m.logs, id)
		return
	}
	inc.KubeletLogMissing = err.Error()
	switch {
	case w.again:
		w.again, w.ready = false, true
	case inc.Status != Open:
		delete(m.logs, id)
	}
}

// boundLines keeps the last MaxKubeletLogLines lines, each cut at maxLogLine
// bytes.
func boundLines(lines []string) []string {
	lines = lines[max(0, len(lines)-MaxKubeletLogLines):]
	out := make([]string, len(lines))
	for i, l := range lines {
		if len(l) > maxLogLine {
			cut := maxLogLine
			for cut > 0 && !utf8.RuneStart(l[cut]) {
				cut--
			}
			l = l[:cut] + "…"
		}
		out[i] = l
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
