package slack

import (
	"fmt"
	"strings"
	"unicode/utf8"

	slackapi "github.com/slack-go/slack"

	"github.com/nodewatch/nodewatch/internal/health"
	"github.com/nodewatch/nodewatch/internal/notify"
	"github.com/nodewatch/nodewatch/internal/report"
)

// Slack's documented limits for incoming-webhook messages and Block Kit.
const (
	MaxBlocks      = 50
	MaxSectionText = 3000
	MaxHeaderText  = 150
	MaxText        = 40000
)

// Render builds the Block Kit message for m: a header, then for each node a
// section with its Ready state and a section listing its pods, then the
// unschedulable pods. Everything fits Slack's limits: long pod lists end in
// "…and N more", and nodes beyond the block budget are counted, not dropped
// silently.
func Render(m *notify.Message) *slackapi.WebhookMessage {
	var blocks []slackapi.Block
	blocks = append(blocks, slackapi.NewHeaderBlock(
		slackapi.NewTextBlockObject(slackapi.PlainTextType, clip(emoji(m)+" "+m.Title, MaxHeaderText), true, false)))
	if m.Text != "" {
		blocks = append(blocks, section(clip(Escape(m.Text), MaxSectionText)))
	}
	// Reserve room for the workloads, the unschedulable section, a "more
	// nodes" note and the context line.
	budget := MaxBlocks - 4 - min(len(m.Workloads), 10)
	shown := 0
	for _, n := range m.Nodes {
		if len(blocks)+2 > budget {
			break
		}
		blocks = append(blocks, section(nodeText(&n, m)), section(podsText(n.Pods, "pods on this node")))
		shown++
	}
	if more := len(m.Nodes) - shown; more > 0 {
		blocks = append(blocks, section(fmt.Sprintf("…and %d more nodes with problems", more)))
	}
	for i, w := range m.Workloads {
		if i == 10 {
			blocks = append(blocks, section(fmt.Sprintf("…and %d more workloads", len(m.Workloads)-i)))
			break
		}
		blocks = append(blocks, section(workloadText(&w)))
	}
	if len(m.Unschedulable) > 0 {
		blocks = append(blocks, section(unschedulableText(m.Unschedulable)))
	}
	footer := "nodewatch · " + m.At.UTC().Format("2006-01-02 15:04:05Z")
	if m.IncidentID != "" {
		footer += " · incident " + Escape(m.IncidentID)
	}
	if m.URL != "" {
		footer += " · <" + Escape(m.URL) + "|details>"
	}
	blocks = append(blocks, slackapi.NewContextBlock("", slackapi.NewTextBlockObject(slackapi.MarkdownType, footer, false, false)))
	return &slackapi.WebhookMessage{
		Text:   clip(fallback(m), MaxText),
		Blocks: &slackapi.Blocks{BlockSet: blocks},
	}
}

// emoji marks the message's state at a glance.
func emoji(m *notify.Message) string {
	switch {
	case m.Status == notify.Resolved:
		return ":white_check_mark:"
	case m.Severity == "warning":
		return ":warning:"
	}
	return ":rotating_light:"
}

func section(text string) slackapi.Block {
	return slackapi.NewSectionBlock(slackapi.NewTextBlockObject(slackapi.MarkdownType, text, false, false), nil, nil)
}

// fallback is the notification text shown where blocks are not.
func fallback(m *notify.Message) string {
	names := make([]string, len(m.Nodes))
	for i, n := range m.Nodes {
		names[i] = n.Name
	}
	s := m.Title
	if len(names) > 0 {
		s += ": " + strings.Join(names, ", ")
	}
	return s
}

func nodeText(n *health.NodeReport, m *notify.Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%s* — %s · Ready=%s since %s", Escape(n.Name), Escape(strings.Join(n.Problems, ", ")),
		Escape(n.Ready), Escape(report.Since(n.Since, m.At)))
	if n.Reason != "" || n.Message != "" {
		fmt.Fprintf(&b, "\n_%s_: %s", Escape(n.Reason), Escape(n.Message))
	}
	return clip(b.String(), MaxSectionText)
}

func podsText(pods []health.PodReport, what string) string {
	if len(pods) == 0 {
		return "no " + what
	}
	lines := make([]string, len(pods))
	for i, p := range pods {
		lines[i] = fmt.Sprintf("• `%s/%s` %s/%s · %s · %s · mem %s/%s · %d restarts",
			Escape(p.Namespace), Escape(p.Name), Escape(p.Owner.Kind), Escape(p.Owner.Name), Escape(p.Phase), Escape(p.QOS),
			report.Bytes(p.MemoryRequest, "-"), report.Bytes(p.MemoryLimit, "no limit"), p.Restarts)
	}
	return fitLines(fmt.Sprintf("*%d %s:*", len(pods), what), lines)
}

func workloadText(w *health.WorkloadReport) string {
	head := fmt.Sprintf("*%s %s/%s* — %s", Escape(w.Kind), Escape(w.Namespace), Escape(w.Name), Escape(w.Reason))
	if w.Reason == "Unavailable" {
		head += fmt.Sprintf(" · %d of %d replicas available", w.Available, w.Desired)
	}
	lines := make([]string, len(w.Pods))
	for i, p := range w.Pods {
		l := fmt.Sprintf("• `%s` %s", Escape(p.Name), Escape(p.Reason))
		if p.Node != "" {
			l += " on " + Escape(p.Node)
		}
		if p.ExitCode != 0 {
			l += fmt.Sprintf(" · exit %d", p.ExitCode)
		}
		l += fmt.Sprintf(" · %d restarts", p.Restarts)
		if p.Message != "" {
			l += ": " + Escape(p.Message)
		}
		for _, log := range p.LogTail {
			l += "\n    > " + Escape(log)
		}
		lines[i] = l
	}
	return fitLines(head, lines)
}

func unschedulableText(pods []health.PodReport) string {
	lines := make([]string, len(pods))
	for i, p := range pods {
		lines[i] = fmt.Sprintf("• `%s/%s` %s/%s: %s", Escape(p.Namespace), Escape(p.Name),
			Escape(p.Owner.Kind), Escape(p.Owner.Name), Escape(p.Message))
	}
	return fitLines(fmt.Sprintf("*%d pods cannot be scheduled:*", len(pods)), lines)
}

// fitLines joins head and as many lines as fit in a section, ending with
// "…and N more" when some do not.
func fitLines(head string, lines []string) string {
	var b strings.Builder
	b.WriteString(head)
	used := utf8.RuneCountInString(head)
	const reserve = 40 // room for the "and N more" line
	for i, l := range lines {
		l = clip(l, 500)
		n := 1 + utf8.RuneCountInString(l)
		if used+n > MaxSectionText-reserve {
			fmt.Fprintf(&b, "\n…and %d more", len(lines)-i)
			break
		}
		b.WriteString("\n" + l)
		used += n
	}
	return b.String()
}

// Escape makes s safe as mrkdwn text: Slack reads &, < and > as control
// characters (links, mentions), so user-controlled strings must not carry them.
func Escape(s string) string {
	return mrkdwn.Replace(s)
}

var mrkdwn = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// clip shortens s to at most n characters (runes), marking the cut.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
