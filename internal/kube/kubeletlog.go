package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// KubeletLog returns the last lines (at most tail) of the kubelet's own log
// on node between from and to, through the API server's node proxy and the
// kubelet's log query endpoint (`/logs/?query=kubelet`, Kubernetes 1.27+,
// behind the NodeLogQuery feature gate and the kubelet's
// enableSystemLogQuery setting) — what `kubectl get --raw
// "/api/v1/nodes/NODE/proxy/logs/?query=kubelet"` prints. The error says
// why when the kubelet does not answer such queries, or RBAC forbids them
// (they need get on nodes/proxy).
func KubeletLog(ctx context.Context, c kubernetes.Interface, node string, from, to time.Time, tail int) ([]string, error) {
	rc := c.CoreV1().RESTClient()
	if r, ok := rc.(*rest.RESTClient); rc == nil || ok && r == nil { // a fake clientset
		return nil, fmt.Errorf("no API server to ask for %s's kubelet log", node)
	}
	// One segment, so the trailing slash of /logs/ is kept.
	b, err := rc.Get().AbsPath("/api/v1/nodes/"+url.PathEscape(node)+"/proxy/logs/").
		Param("query", "kubelet").
		Param("sinceTime", from.UTC().Format(time.RFC3339)).
		Param("untilTime", to.UTC().Format(time.RFC3339)).
		Param("tailLines", strconv.Itoa(tail)).
		DoRaw(ctx)
	const howTo = "Kubernetes 1.27+ with the NodeLogQuery feature gate and enableSystemLogQuery"
	var status apierrors.APIStatus
	switch {
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("%s's kubelet does not answer log queries (%s)", node, howTo)
	case apierrors.IsForbidden(err):
		return nil, fmt.Errorf("reading %s's kubelet log needs get on nodes/proxy: %w", node, err)
	case errors.As(err, &status):
		st := status.Status()
		msg := st.Message
		if st.Details != nil && len(st.Details.Causes) > 0 {
			msg = st.Details.Causes[0].Message // the body of a non-Status answer
		}
		var body metav1.Status // a Status client-go left undecoded: the API server's own, on the proxy path
		if json.Unmarshal(b, &body) == nil && body.Kind == "Status" && body.Message != "" {
			msg = body.Message
		}
		if st.Code == http.StatusBadRequest && msg == "address not allowed" {
			// The API server's own refusal: it proxies only to routable node
			// addresses (not loopback or link-local), before any kubelet is asked.
			return nil, fmt.Errorf("%s's kubelet log cannot be read through the API server: it does not proxy to the node's address, "+
				"which is loopback or link-local (HTTP 400: address not allowed)", node)
		}
		return nil, fmt.Errorf("%s's kubelet refused the log query (HTTP %d: %s)", node, st.Code, firstLine(msg))
	case err != nil:
		return nil, fmt.Errorf("reading %s's kubelet log: %w", node, err)
	case bytes.Contains(b, []byte("<a href=")):
		// Without NodeLogQuery the kubelet ignores the query and lists
		// /var/log instead.
		return nil, fmt.Errorf("%s's kubelet does not answer log queries: it listed its /var/log instead (%s)", node, howTo)
	}
	return lastLines(b, tail), nil
}

// lastLines returns the last (at most tail) non-empty lines of a log body,
// without their line endings, however long a line is (a kubelet may ignore
// tailLines, or write one huge line).
func lastLines(b []byte, tail int) []string {
	var rev []string
	for len(b) > 0 && len(rev) < tail {
		i := bytes.LastIndexByte(b, '\n')
		if l := bytes.TrimSuffix(b[i+1:], []byte("\r")); len(l) > 0 {
			rev = append(rev, string(l))
		}
		b = b[:max(i, 0)]
	}
	slices.Reverse(rev)
	return rev
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
