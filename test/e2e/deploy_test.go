package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/internal/notify/slack/slacktest"
)

// TestDeployRBAC applies deploy/nodewatch.yaml and runs the daemon with
// exactly the permissions it grants (impersonating its ServiceAccount): the
// ClusterRole must be enough to detect a failed node and name its pods.
func TestDeployRBAC(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	c, nodes := storyCluster(t, ctx, 2)
	manifest, err := os.ReadFile("../../deploy/nodewatch.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The access objects only: the simulated cluster has no storage
	// provisioner for the PVC, and kwok runs no containers.
	var access []string
	for _, doc := range strings.Split(string(manifest), "\n---") {
		if !strings.Contains(doc, "kind: PersistentVolumeClaim") && !strings.Contains(doc, "kind: Deployment") {
			access = append(access, doc)
		}
	}
	if len(access) != 4 {
		t.Fatalf("deploy/nodewatch.yaml: %d access objects, want Namespace, ServiceAccount, ClusterRole, ClusterRoleBinding", len(access))
	}
	if err := c.Apply(ctx, strings.Join(access, "\n---")); err != nil {
		t.Fatalf("applying deploy/nodewatch.yaml: %v", err)
	}
	kc, err := os.ReadFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	impersonating := strings.Replace(string(kc), "    token: ", "    as: system:serviceaccount:nodewatch:nodewatch\n    token: ", 1)
	kcPath := filepath.Join(t.TempDir(), "as-nodewatch.kubeconfig")
	if err := os.WriteFile(kcPath, []byte(impersonating), 0o600); err != nil {
		t.Fatal(err)
	}
	// The impersonation is real: the ServiceAccount may read nodes, not delete them.
	for verb, want := range map[string]string{"list": "yes", "delete": "no"} {
		out, _ := exec.CommandContext(ctx, "kubectl", "--kubeconfig", kcPath, "auth", "can-i", verb, "nodes").Output()
		if got := strings.TrimSpace(string(out)); got != want {
			t.Fatalf("as the ServiceAccount, can-i %s nodes = %q, want %q", verb, got, want)
		}
	}
	if r := nodewatch(t, ctx, nil, nil, "check", "--kubeconfig", kcPath); r.code != 0 {
		t.Fatalf("check as the ServiceAccount: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	rx := slacktest.New()
	defer rx.Close()
	startDaemon(t, kcPath, t.TempDir(), []string{"NODEWATCH_SLACK_WEBHOOK=" + rx.URL}, "--group-window", "0")
	victim := nodes[0]
	want, err := c.PodsOnNode(ctx, victim)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.FailNode(ctx, victim); err != nil {
		t.Fatal(err)
	}
	m := waitMessage(t, ctx, rx, 120*time.Second, victim+" is down")
	assertPodsListed(t, m, want)
}
