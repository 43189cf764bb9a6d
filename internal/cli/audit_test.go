package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/nodewatch/nodewatch/internal/audit"
	"github.com/nodewatch/nodewatch/internal/golden"
)

func TestAuditDumpGolden(t *testing.T) {
	for _, format := range []string{"text", "json", "yaml"} {
		t.Run(format, func(t *testing.T) {
			out, errOut, code := run(t, nil, "", "audit", "-f", "testdata/unbounded.json", "-o", format)
			if code != ExitFindings {
				t.Fatalf("exit %d, want %d; stderr: %s", code, ExitFindings, errOut)
			}
			golden.Assert(t, "audit-unbounded."+format, []byte(out))
		})
	}
}

// TestAuditDump reads the JSON report of the dump the way a script would and
// checks what the story needs: the JVM job and the third-party agent are
// named, the namespace with a LimitRange default is not faulted for limits.
func TestAuditDump(t *testing.T) {
	out, _, _ := run(t, nil, "", "audit", "-f", "testdata/unbounded.json", "-o", "json")
	var r audit.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	got := map[string]audit.Severity{}
	for _, f := range r.Findings {
		got[f.Check+" "+f.Object()] = f.Severity
	}
	want := map[string]audit.Severity{
		"BestEffort emails/ReplicationController/unanswered-emails": audit.Warning,
		"MissingMemoryLimit emails/Deployment/mailer":               audit.Warning, // its sidecar
		"MissingMemoryLimit kube-system/DaemonSet/node-exporter":    audit.Warning,
		"MissingMemoryLimit third-party/AgentSet/vendor-agent":      audit.Warning,
		"LimitRangeDefaultNotApplied batch/CronJob/nightly-report":  audit.Info,
		"NamespaceWithoutLimitRange namespace/emails":               audit.Warning,
		"NamespaceWithoutResourceQuota namespace/emails":            audit.Info,
		"UnboundedPodsTogether node/node-a":                         audit.Critical,
		"NodeMemoryLimitsOvercommitted node/node-b":                 audit.Warning,
		"NodeMemoryRequestsOvercommitted node/node-c":               audit.Critical,
	}
	for k, sev := range want {
		if got[k] != sev {
			t.Errorf("%s: severity %q, want %q", k, got[k], sev)
		}
	}
	for k := range got {
		for _, absent := range []string{"batch/CronJob/nightly-report", "namespace/batch", "web/", "namespace/web", "namespace/kube-public", "namespace/analytics"} {
			if strings.Contains(k, absent) && !strings.HasPrefix(k, "LimitRangeDefaultNotApplied") && !strings.HasPrefix(k, "MissingCPURequest") && k != "NamespaceWithoutResourceQuota namespace/batch" {
				t.Errorf("unexpected finding %s", k)
			}
		}
	}
	if r.Nodes != 3 || r.Namespaces != 7 || r.Pods != 14 || len(r.Skipped) != 0 {
		t.Errorf("nodes %d namespaces %d pods %d skipped %q", r.Nodes, r.Namespaces, r.Pods, r.Skipped)
	}
}

func TestAuditExitCodes(t *testing.T) {
	clean := `{"kind":"NodeList","items":[{"metadata":{"name":"a"},"status":{"allocatable":{"memory":"4Gi"}}}]}
{"kind":"PodList","items":[{"metadata":{"name":"p","namespace":"d"},"spec":{"nodeName":"a","containers":[{"name":"c","resources":{"requests":{"cpu":"100m","memory":"1Gi"},"limits":{"memory":"1Gi"}}}]},"status":{"phase":"Running"}}]}
{"kind":"LimitRangeList","items":[{"metadata":{"name":"l","namespace":"d"},"spec":{"limits":[{"type":"Container","default":{"memory":"512Mi"}}]}}]}
{"kind":"ResourceQuotaList","items":[{"metadata":{"name":"q","namespace":"d"},"spec":{"hard":{"requests.memory":"8Gi"}}}]}`
	cases := []struct {
		name, stdin string
		args        []string
		code        int
		out, stderr string
	}{
		{"clean, kind-specific lists on stdin", clean, []string{"audit", "-f", "-"}, ExitOK, "No findings", ""},
		{"findings", "", []string{"audit", "-f", "testdata/unbounded.json"}, ExitFindings, "4 critical", ""},
		{"only critical fails", "", []string{"audit", "-f", "testdata/unbounded.json", "-n", "emails", "--fail-on", "critical"}, ExitOK, "namespace emails", ""},
		{"warnings fail by default", "", []string{"audit", "-f", "testdata/unbounded.json", "-n", "emails"}, ExitFindings, "node overcommit and unbounded pods side by side", ""},
		{"info counts when asked", "", []string{"audit", "-f", "testdata/unbounded.json", "-n", "batch", "--fail-on", "info"}, ExitFindings, "LimitRangeDefaultNotApplied", ""},
		{"info alone passes", "", []string{"audit", "-f", "testdata/unbounded.json", "-n", "batch"}, ExitOK, "0 warning", ""},
		{"check's dump: policy checks skipped, said so", "", []string{"audit", "-f", "testdata/outage.json"}, ExitFindings, "LimitRanges were not read", ""},
		{"missing file", "", []string{"audit", "-f", "testdata/nope.json"}, ExitError, "", "nope.json"},
		{"bad quantity", `{"kind":"List","items":[{"kind":"Node","metadata":{"name":"a"}},{"kind":"LimitRange","metadata":{"name":"l","namespace":"x"},"spec":{"limits":[{"type":"Container","default":{"memory":"big"}}]}}]}`,
			[]string{"audit", "-f", "-"}, ExitError, "", `<stdin>: byte 193: items[1] LimitRange x/l: spec.limits[0].default.memory: "big" is not a quantity`},
		{"bad format", "", []string{"audit", "-f", "testdata/unbounded.json", "-o", "xml"}, ExitError, "", `unknown output format "xml"`},
		{"bad severity", "", []string{"audit", "-f", "testdata/unbounded.json", "--fail-on", "major"}, ExitError, "", `unknown severity "major"`},
		{"unreachable cluster", "", []string{"audit", "--kubeconfig", "testdata/unreachable.kubeconfig", "--request-timeout", "2s"}, ExitError, "", "listing nodes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := run(t, nil, tc.stdin, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errOut, tc.stderr) {
				t.Errorf("exit %d stdout %q stderr %q, want exit %d, stdout containing %q and stderr containing %q", code, out, errOut, tc.code, tc.out, tc.stderr)
			}
		})
	}
}
