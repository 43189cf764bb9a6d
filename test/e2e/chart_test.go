package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodewatch/nodewatch/internal/simcluster"
	"github.com/nodewatch/nodewatch/internal/testenv"
)

// TestChartInstall installs charts/nodewatch with helm into namespaces that
// enforce Pod Security "restricted" on the simulated cluster: the API
// server's own admission must let the chart's pod in (and refuse it once the
// securityContext is loosened, so the check is real), the scheduler places
// it, and its ServiceAccount may do what nodewatch needs and nothing more.
// kwok runs no containers: the daemon itself is not started.
func TestChartInstall(t *testing.T) {
	helm := testenv.Helm(t, "NODEWATCH_REQUIRE_HELM")
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	c := simcluster.StartForTest(t, simcluster.Options{})
	if _, err := c.AddNodes(ctx, "node", 1, simcluster.NodeSize{}); err != nil {
		t.Fatal(err)
	}
	restricted := func(ns string) {
		t.Helper()
		_, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name: ns, Labels: map[string]string{
				"pod-security.kubernetes.io/enforce":         "restricted",
				"pod-security.kubernetes.io/enforce-version": "latest",
			},
		}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	install := func(release, ns string, set ...string) {
		t.Helper()
		args := []string{"install", release, "../../charts/nodewatch", "--kubeconfig", c.Kubeconfig, "-n", ns,
			"--set", "persistence.enabled=false"} // no storage provisioner here
		for _, s := range set {
			args = append(args, "--set", s)
		}
		if out, err := exec.CommandContext(ctx, helm, args...).CombinedOutput(); err != nil {
			t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	// The chart as users install it: a token from a Secret, so nodewatch
	// listens beyond loopback with probes and a Service.
	restricted("nodewatch")
	if _, err := c.Client.CoreV1().Secrets("nodewatch").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "nodewatch-auth"},
		StringData: map[string]string{"token": "e2e-chart-token"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	install("nw", "nodewatch", "auth.existingSecret=nodewatch-auth")
	err := c.Wait(ctx, "the chart's pod admitted and scheduled", func(ctx context.Context) (bool, error) {
		pods, err := c.Client.CoreV1().Pods("nodewatch").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=nodewatch"})
		if err != nil {
			return false, err
		}
		return len(pods.Items) == 1 && pods.Items[0].Spec.NodeName != "", nil
	})
	if err != nil {
		t.Fatalf("%v; ReplicaSet events: %s", err, events(t, ctx, c, "nodewatch"))
	}
	if _, err := c.Client.CoreV1().Services("nodewatch").Get(ctx, "nw-nodewatch", metav1.GetOptions{}); err != nil {
		t.Errorf("the Service: %v", err)
	}

	// The ServiceAccount's access, through impersonation as in TestDeployRBAC.
	for _, tc := range []struct{ args, want string }{
		{"list nodes", "yes"}, {"watch pods -A", "yes"}, {"delete nodes", "no"}, {"create pods -n nodewatch", "no"},
		{"watch leases.coordination.k8s.io -n kube-node-lease", "yes"}, {"list leases.coordination.k8s.io -n kube-system", "no"},
		// A subresource is --subresource: "get nodes/proxy" would ask about
		// a node named proxy.
		{"get nodes --subresource=metrics", "yes"}, {"get nodes --subresource=proxy", "no"},
		{"get nodes --subresource=stats", "no"}, {"get secrets -n nodewatch", "no"},
	} {
		args := append([]string{"--kubeconfig", c.Kubeconfig, "--as", "system:serviceaccount:nodewatch:nw-nodewatch", "auth", "can-i"}, strings.Fields(tc.args)...)
		out, _ := exec.CommandContext(ctx, "kubectl", args...).Output()
		if got := strings.TrimSpace(string(out)); got != tc.want {
			t.Errorf("as the chart's ServiceAccount, can-i %s = %q, want %q", tc.args, got, tc.want)
		}
	}

	// The same chart with a loosened securityContext: admission refuses the
	// pod, so the admission above was a real check.
	restricted("loosened")
	install("loose", "loosened", "securityContext.allowPrivilegeEscalation=true")
	err = c.Wait(ctx, "the loosened pod refused", func(ctx context.Context) (bool, error) {
		return strings.Contains(events(t, ctx, c, "loosened"), "violates PodSecurity"), nil
	})
	if err != nil {
		t.Fatalf("%v: events %s", err, events(t, ctx, c, "loosened"))
	}
	if pods, _ := c.Client.CoreV1().Pods("loosened").List(ctx, metav1.ListOptions{}); len(pods.Items) != 0 {
		t.Errorf("%d pods admitted with allowPrivilegeEscalation", len(pods.Items))
	}
}

// events are a namespace's event messages, joined.
func events(t *testing.T, ctx context.Context, c *simcluster.Cluster, ns string) string {
	t.Helper()
	evs, err := c.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var msgs []string
	for _, e := range evs.Items {
		msgs = append(msgs, e.Reason+": "+e.Message)
	}
	return strings.Join(msgs, "; ")
}
