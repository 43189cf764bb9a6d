package chart

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"

	"github.com/nodewatch/nodewatch/internal/testenv"
)

const chartDir = "../../charts/nodewatch"

func valueSets(t *testing.T) []string {
	sets, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	if err != nil || len(sets) == 0 {
		t.Fatalf("value sets under %s/ci: %v", chartDir, err)
	}
	return sets
}

func TestLint(t *testing.T) {
	h := testenv.Helm(t, "NODEWATCH_REQUIRE_HELM")
	for _, set := range append([]string{""}, valueSets(t)...) {
		args := []string{"lint", "--strict", chartDir}
		if set != "" {
			args = append(args, "-f", set)
		}
		if out, err := exec.Command(h, args...).CombinedOutput(); err != nil {
			t.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// rendered is one `helm template`'s objects, decoded strictly by kind.
type rendered struct {
	deployment     *appsv1.Deployment
	service        *corev1.Service
	pvc            *corev1.PersistentVolumeClaim
	networkPolicy  *networkingv1.NetworkPolicy
	pdb            *policyv1.PodDisruptionBudget
	roles          []rbacv1.Role
	clusterRoles   []rbacv1.ClusterRole
	serviceMonitor map[string]any
	kinds          []string
}

func (r *rendered) container(t *testing.T) corev1.Container {
	t.Helper()
	if r.deployment == nil || len(r.deployment.Spec.Template.Spec.Containers) != 1 {
		t.Fatal("want a Deployment with one container")
	}
	return r.deployment.Spec.Template.Spec.Containers[0]
}

func (r *rendered) env(t *testing.T, name string) *corev1.EnvVar {
	for _, e := range r.container(t).Env {
		if e.Name == name {
			return &e
		}
	}
	return nil
}

func template(t *testing.T, args ...string) (*rendered, error) {
	t.Helper()
	cmd := exec.Command(testenv.Helm(t, "NODEWATCH_REQUIRE_HELM"), append([]string{"template", "nw", chartDir, "--namespace", "nodewatch"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, &renderError{err, stderr.String()}
	}
	r := &rendered{}
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(out), -1) {
		var meta struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("rendered YAML: %v\n%s", err, doc)
		}
		if meta.Kind == "" {
			continue
		}
		r.kinds = append(r.kinds, meta.Kind)
		var into any
		switch meta.Kind {
		case "Deployment":
			r.deployment = &appsv1.Deployment{}
			into = r.deployment
		case "Service":
			r.service = &corev1.Service{}
			into = r.service
		case "PersistentVolumeClaim":
			r.pvc = &corev1.PersistentVolumeClaim{}
			into = r.pvc
		case "NetworkPolicy":
			r.networkPolicy = &networkingv1.NetworkPolicy{}
			into = r.networkPolicy
		case "PodDisruptionBudget":
			r.pdb = &policyv1.PodDisruptionBudget{}
			into = r.pdb
		case "Role":
			r.roles = append(r.roles, rbacv1.Role{})
			into = &r.roles[len(r.roles)-1]
		case "ClusterRole":
			r.clusterRoles = append(r.clusterRoles, rbacv1.ClusterRole{})
			into = &r.clusterRoles[len(r.clusterRoles)-1]
		case "ServiceMonitor":
			into = &r.serviceMonitor
		case "ServiceAccount", "ClusterRoleBinding", "RoleBinding":
			continue
		default:
			t.Errorf("unexpected kind %s", meta.Kind)
			continue
		}
		// Strict: a misspelt or misplaced field is an error, as the API
		// server's field validation would make it.
		if err := yaml.UnmarshalStrict([]byte(doc), into); err != nil {
			t.Errorf("%s: %v", meta.Kind, err)
		}
	}
	return r, nil
}

type renderError struct {
	err    error
	stderr string
}

func (e *renderError) Error() string { return e.err.Error() + ": " + e.stderr }

// runFlags are the flags `nodewatch run --help` lists.
func runFlags(t *testing.T) map[string]bool {
	t.Helper()
	bin := os.Getenv("NODEWATCH_BIN")
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "nodewatch")
		if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/nodewatch").CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	out, err := exec.Command(bin, "run", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("nodewatch run --help: %v\n%s", err, out)
	}
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+(?:-\w, )?(--[a-z0-9-]+)`).FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = true
	}
	return flags
}

func TestTemplate(t *testing.T) {
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	flags := runFlags(t)
	set := func(name string) []string { return []string{"-f", filepath.Join(chartDir, "ci", name+"-values.yaml")} }

	for _, tc := range []struct {
		name  string
		args  []string
		check func(t *testing.T, r *rendered, args []string)
	}{
		{"defaults", nil, func(t *testing.T, r *rendered, args []string) {
			c := r.container(t)
			// No token: the daemon refuses more than loopback, so no Service
			// or probes that could never reach it.
			if !slices.Contains(args, "--listen=127.0.0.1:8080") || slices.ContainsFunc(args, prefix("--auth-token")) {
				t.Errorf("args %q: want loopback and no token", args)
			}
			if r.service != nil || c.ReadinessProbe != nil || c.LivenessProbe != nil {
				t.Error("a Service or probes without a token: nothing can reach a loopback listener")
			}
			if got := *r.deployment.Spec.Replicas; got != 1 {
				t.Errorf("replicas %d", got)
			}
			if c.Image != "ghcr.io/nodewatch/nodewatch:0.1.0" {
				t.Errorf("image %q", c.Image)
			}
			// 90% of the 256Mi limit.
			if e := r.env(t, "GOMEMLIMIT"); e == nil || e.Value != "241591910" {
				t.Errorf("GOMEMLIMIT %+v, want 241591910", e)
			}
			if r.pvc == nil || r.pvc.Annotations["helm.sh/resource-policy"] != "keep" {
				t.Error("want a PVC kept on uninstall")
			}
			if r.pdb == nil || r.networkPolicy == nil || len(r.networkPolicy.Spec.Ingress) != 0 {
				t.Errorf("want a PDB and a NetworkPolicy letting nothing in: %+v", r.networkPolicy)
			}
			if len(r.roles) != 1 || r.roles[0].Namespace != "kube-node-lease" ||
				!slices.Equal(r.roles[0].Rules[0].Resources, []string{"leases"}) {
				t.Errorf("Leases through a Role in kube-node-lease only: %+v", r.roles)
			}
			for _, rule := range r.clusterRoles[0].Rules {
				for _, v := range rule.Verbs {
					if !slices.Contains([]string{"get", "list", "watch"}, v) {
						t.Errorf("ClusterRole may %s %v: read-only", v, rule.Resources)
					}
				}
				if slices.Contains(rule.Resources, "leases") || slices.Contains(rule.Resources, "nodes/proxy") || slices.Contains(rule.Resources, "secrets") {
					t.Errorf("ClusterRole grants %v", rule.Resources)
				}
			}
		}},
		{"token", set("token"), func(t *testing.T, r *rendered, args []string) {
			c := r.container(t)
			for _, want := range []string{"--listen=0.0.0.0:8080", "--auth-token-file=/etc/nodewatch/auth/token", "--external-url=https://nodewatch.example.com"} {
				if !slices.Contains(args, want) {
					t.Errorf("args %q lack %s", args, want)
				}
			}
			if r.env(t, "NODEWATCH_AUTH_TOKEN") != nil {
				t.Error("the token is in the environment")
			}
			if !mounted(r, "nodewatch-auth", "/etc/nodewatch/auth") {
				t.Error("the auth Secret is not mounted at /etc/nodewatch/auth")
			}
			if r.service == nil || c.ReadinessProbe == nil || c.LivenessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
				t.Error("want a Service and /readyz, /healthz probes")
			}
			ep := dig(r.serviceMonitor, "spec", "endpoints")
			if eps, _ := ep.([]any); len(eps) != 1 || dig(eps[0], "authorization", "credentials", "name") != "nodewatch-auth" {
				t.Errorf("ServiceMonitor endpoints %v: want the token as Bearer credentials", ep)
			}
			if from := r.networkPolicy.Spec.Ingress[0].From; len(from) != 1 {
				t.Errorf("NetworkPolicy from %+v", from)
			}
		}},
		{"sinks", set("sinks"), func(t *testing.T, r *rendered, args []string) {
			c := r.container(t)
			for _, want := range []string{"--slack-webhook-file=/etc/nodewatch/slack/url", "--webhook-url-file=/etc/nodewatch/webhook/endpoint", "--group-window=1m"} {
				if !slices.Contains(args, want) {
					t.Errorf("args %q lack %s", args, want)
				}
			}
			if !mounted(r, "nodewatch-slack", "/etc/nodewatch/slack") || !mounted(r, "nodewatch-webhook", "/etc/nodewatch/webhook") {
				t.Error("the sinks' Secrets are not mounted")
			}
			if e := r.env(t, "NODEWATCH_ALERTMANAGER_URL"); e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef.Name != "nodewatch-alertmanager" {
				t.Errorf("NODEWATCH_ALERTMANAGER_URL %+v: want it from the Secret", e)
			}
			if !strings.HasSuffix(c.Image, "@sha256:0000000000000000000000000000000000000000000000000000000000000000") {
				t.Errorf("image %q: want the digest", c.Image)
			}
			if r.pvc != nil || r.deployment.Spec.Template.Spec.Volumes[0].EmptyDir == nil {
				t.Error("persistence off: want an emptyDir, no PVC")
			}
			if e := r.env(t, "GOMEMLIMIT"); e == nil || e.Value != "966367641" {
				t.Errorf("GOMEMLIMIT %+v, want 90%% of 1Gi", e)
			}
		}},
		{"minimal", set("minimal"), func(t *testing.T, r *rendered, args []string) {
			if r.pvc != nil || r.deployment.Spec.Template.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "nodewatch-data" {
				t.Error("want the existing claim and no PVC")
			}
			if r.env(t, "GOMEMLIMIT") != nil || r.networkPolicy != nil || r.pdb != nil {
				t.Error("no limit, policy or PDB asked for")
			}
			if !slices.Contains(args, "--alertmanager-url=http://alertmanager.monitoring:9093") {
				t.Errorf("args %q", args)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := template(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(r.kinds, "Secret") {
				t.Error("the chart renders a Secret: it only refers to existing ones")
			}
			pod := r.deployment.Spec.Template
			res := policy.AggregateCheckResults(evaluator.EvaluatePod(
				psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}, &pod.ObjectMeta, &pod.Spec))
			if !res.Allowed {
				t.Errorf("Pod Security restricted refuses the pod: %s", res.ForbiddenDetail())
			}
			args := r.container(t).Args
			if len(args) == 0 || args[0] != "run" {
				t.Fatalf("args %q: want nodewatch run", args)
			}
			for _, a := range args[1:] {
				if name, _, _ := strings.Cut(a, "="); !flags[name] {
					t.Errorf("%s is not a flag of nodewatch run", name)
				}
			}
			tc.check(t, r, args)
		})
	}
}

// TestRefused: value sets that cannot work fail to render, saying why.
func TestRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"two replicas", []string{"--set", "replicas=2"}, "replicas: at most 1"},
		{"ServiceMonitor without a token", []string{"--set", "serviceMonitor.enabled=true"}, "serviceMonitor.enabled needs auth.existingSecret"},
		{"two Alertmanager URLs", []string{"--set", "alertmanager.url=http://am:9093,alertmanager.existingSecret=am"}, "not both"},
		{"a memory limit GOMEMLIMIT cannot follow", []string{"--set", "resources.limits.memory=0.5Gi"}, "resources.limits.memory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := template(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

func prefix(p string) func(string) bool {
	return func(s string) bool { return strings.HasPrefix(s, p) }
}

func mounted(r *rendered, secret, path string) bool {
	var volume string
	for _, v := range r.deployment.Spec.Template.Spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == secret {
			volume = v.Name
		}
	}
	for _, m := range r.deployment.Spec.Template.Spec.Containers[0].VolumeMounts {
		if m.Name == volume && m.MountPath == path && m.ReadOnly {
			return true
		}
	}
	return false
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// TestRestrictedBites: the restricted check above is not vacuous — a
// loosened securityContext renders a pod it refuses.
func TestRestrictedBites(t *testing.T) {
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range []string{"securityContext.allowPrivilegeEscalation=true", "podSecurityContext.runAsNonRoot=false",
		"podSecurityContext.seccompProfile=null", "securityContext.capabilities=null"} {
		r, err := template(t, "--set", set)
		if err != nil {
			t.Fatal(err)
		}
		pod := r.deployment.Spec.Template
		res := policy.AggregateCheckResults(evaluator.EvaluatePod(
			psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}, &pod.ObjectMeta, &pod.Spec))
		if res.Allowed {
			t.Errorf("--set %s: Pod Security restricted allows the pod", set)
		}
	}
}
