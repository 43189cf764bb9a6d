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
// ClusterRole and the Role on kube-node-lease's Leases must be enough to
// detect a failed node and name its pods.
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
	if len(access) != 6 {
		t.Fatalf("deploy/nodewatch.yaml: %d access objects, want Namespace, ServiceAccount, ClusterRole, ClusterRoleBinding, Role, RoleBinding", len(access))
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
	// The impersonation is real: the ServiceAccount may read nodes, not
	// delete them; Leases in kube-node-lease only; nothing it does not use.
	for _, c := range []struct{ args, want string }{
		{"list nodes", "yes"}, {"delete nodes", "no"},
		{"watch leases.coordination.k8s.io -n kube-node-lease", "yes"}, {"list leases.coordination.k8s.io -n kube-system", "no"},
		// kubectl reads "nodes/stats" as the node named stats: subresources by flag.
		{"get nodes --subresource=metrics", "yes"}, {"get nodes --subresource=stats", "no"}, {"get nodes --subresource=proxy", "no"},
		{"get secrets -A", "no"},
	} {
		args := append([]string{"--kubeconfig", kcPath, "auth", "can-i"}, strings.Fields(c.args)...)
		out, _ := exec.CommandContext(ctx, "kubectl", args...).Output()
		if got := strings.TrimSpace(string(out)); got != c.want {
			t.Fatalf("as the ServiceAccount, can-i %s = %q, want %q", c.args, got, c.want)
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
