package app

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/nodewatch/nodewatch/internal/health"
	"github.com/nodewatch/nodewatch/internal/incident"
	"github.com/nodewatch/nodewatch/internal/kube"
)

// logTailLines and logTailPods bound what a failing-workload alert carries.
const (
	logTailLines = 10
	logTailPods  = 2
)

// logTails reads the last lines of the previous container's log for the
// first pods of a newly failing workload, by pod name, where RBAC
// (pods/log) and the kubelet allow, scrubbed of obvious secrets; any error
// just leaves a pod out. Namespaces in exclude get none: their logs never
// leave for chat.
func logTails(ctx context.Context, client kubernetes.Interface, r *health.WorkloadReport, exclude []string) map[string][]string {
	if slices.Contains(exclude, r.Namespace) {
		return nil
	}
	out := map[string][]string{}
	for i, p := range r.Pods {
		if i == logTailPods {
			break
		}
		if p.Container == "" || p.Reason == "Unschedulable" || p.Reason == "Evicted" {
			continue
		}
		if tail := previousLog(ctx, client, r.Namespace, p.Name, p.Container); tail != nil {
			out[p.Name] = tail
		}
	}
	return out
}

func previousLog(ctx context.Context, client kubernetes.Interface, namespace, pod, container string) []string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	lines := int64(logTailLines)
	limit := int64(8 << 10)
	raw, err := client.CoreV1().Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{
		Container: container, Previous: true, TailLines: &lines, LimitBytes: &limit,
	}).DoRaw(ctx)
	if err != nil {
		return nil
	}
	text := strings.TrimRight(string(raw), "\n")
	if text == "" {
		return nil
	}
	out := strings.Split(text, "\n")
	for i, l := range out {
		out[i] = Scrub(l)
	}
	return out
}

// secretPatterns find the obvious secrets a crashing program prints: a
// bearer token, key=value pairs named like secrets, credentials in a URL,
// JWTs and AWS access keys. Log tails go to chat; these do not.
var secretPatterns = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}`), "${1}<redacted>"},
	{regexp.MustCompile(`(?i)\b([a-z0-9_.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|credentials?))(["']?\s*[:=]\s*["']?)[^\s"'&,;]+`), "${1}${2}<redacted>"},
	{regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@`), "${1}<redacted>@"},
	{regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`), "<redacted JWT>"},
	{regexp.MustCompile(`\b(?:AKIA|ASIA)[0-9A-Z]{16}\b`), "<redacted AWS key>"},
}

// Scrub hides the obvious secrets in a log line.
func Scrub(line string) string {
	for _, p := range secretPatterns {
		line = p.re.ReplaceAllString(line, p.with)
	}
	return line
}

// Kubelet logs for node incidents: asked for every kubeletLogEvery, at most
// kubeletLogReaders at a time, each given up after kubeletLogTimeout (a
// down node's kubelet often does not answer at all).
const (
	kubeletLogEvery   = 2 * time.Second
	kubeletLogReaders = 8
	kubeletLogTimeout = 15 * time.Second
)

// kubeletLogRequester is what readKubeletLogs needs of the incident manager.
type kubeletLogRequester interface {
	KubeletLogRequests() []incident.LogRequest
	AttachKubeletLog(id string, lines []string, err error)
}

var _ kubeletLogRequester = (*incident.Manager)(nil)

// readKubeletLogs answers the manager's requests for failed nodes' kubelet
// logs through the API server's node proxy (kube.KubeletLog) until ctx
// ends, off the manager's lock and the detection loop.
func readKubeletLogs(ctx context.Context, client kubernetes.Interface, mgr kubeletLogRequester, lines int) {
	sem := make(chan struct{}, kubeletLogReaders)
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(kubeletLogEvery)
	defer tick.Stop()
	for {
		for _, r := range mgr.KubeletLogRequests() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Go(func() {
				defer func() { <-sem }()
				rctx, cancel := context.WithTimeout(ctx, kubeletLogTimeout)
				defer cancel()
				got, err := kube.KubeletLog(rctx, client, r.Node, r.From, r.To, lines)
				if ctx.Err() != nil {
					return // shutting down: no answer
				}
				mgr.AttachKubeletLog(r.Incident, got, err)
			})
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
