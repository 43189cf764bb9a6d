package recommend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/nodewatch/nodewatch/internal/report"
)

// templatePath is where each patchable kind keeps its pod template's spec.
var templatePath = map[string][]string{
	"Deployment":            {"spec", "template", "spec"},
	"StatefulSet":           {"spec", "template", "spec"},
	"DaemonSet":             {"spec", "template", "spec"},
	"ReplicaSet":            {"spec", "template", "spec"},
	"ReplicationController": {"spec", "template", "spec"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template", "spec"},
}

// Patch is a strategic-merge patch of one workload's pod template.
type Patch struct {
	Namespace, Kind, Name string
	Patch                 []byte
}

func (p Patch) String() string {
	return fmt.Sprintf("%s/%s -n %s", strings.ToLower(p.Kind), p.Name, p.Namespace)
}

// Patches returns the patch of every workload with a sized container.
func (r Report) Patches() []Patch {
	var out []Patch
	for _, w := range r.Workloads {
		if b, _ := PatchFor(w); b != nil {
			out = append(out, Patch{Namespace: w.Namespace, Kind: w.Kind, Name: w.Name, Patch: b})
		}
	}
	return out
}

// PatchFor builds the strategic-merge patch setting the recommended
// resources of w's sized containers (matched by name; sidecars among the
// initContainers), or says why there is none. Only the recommended keys are
// set: a CPU limit the user has stays unless --cpu-limits sizes it.
func PatchFor(w Workload) ([]byte, string) {
	var containers, sidecars []any
	var why []string
	for _, c := range w.Containers {
		if c.Recommended == nil {
			why = append(why, c.Name+": "+c.Note)
			continue
		}
		req := map[string]string{"memory": bytesOf(*c.Recommended.MemoryRequest), "cpu": milli(*c.Recommended.CPURequest)}
		lim := map[string]string{"memory": bytesOf(*c.Recommended.MemoryLimit)}
		if c.Recommended.CPULimit != nil {
			lim["cpu"] = milli(*c.Recommended.CPULimit)
		}
		entry := map[string]any{"name": c.Name, "resources": map[string]any{"requests": req, "limits": lim}}
		if c.Sidecar {
			sidecars = append(sidecars, entry)
		} else {
			containers = append(containers, entry)
		}
	}
	if containers == nil && sidecars == nil {
		return nil, strings.Join(why, "; ")
	}
	path, ok := templatePath[w.Kind]
	if !ok {
		switch w.Kind {
		case "Job":
			return nil, "a Job's pod template cannot be changed: set the resources in what creates the Job"
		case "Pod":
			return nil, "a bare pod's resources cannot be patched: set them in what creates the pod"
		}
		return nil, fmt.Sprintf("kind %s is not patched by nodewatch: set the resources in its pod template", w.Kind)
	}
	spec := map[string]any{}
	if containers != nil {
		spec["containers"] = containers
	}
	if sidecars != nil {
		spec["initContainers"] = sidecars
	}
	var v any = spec
	for i := len(path) - 1; i >= 0; i-- {
		v = map[string]any{path[i]: v}
	}
	b, err := json.Marshal(v)
	if err != nil { // maps of strings: cannot happen
		return nil, err.Error()
	}
	return b, ""
}

// Command is the kubectl command that applies the patch; kubectl gets the
// flags in kubectlFlags too (see KubectlFlags).
func (p Patch) Command(kubectlFlags string) string {
	return fmt.Sprintf("kubectl patch %s --type strategic -p %s%s", p, shellQuote(string(p.Patch)), kubectlFlags)
}

// KubectlFlags are the --kubeconfig and --context flags for kubectl, each
// quoted for a shell; empty values give no flag.
func KubectlFlags(kubeconfig, context string) string {
	var extra string
	if kubeconfig != "" {
		extra += " --kubeconfig " + shellQuote(kubeconfig)
	}
	if context != "" {
		extra += " --context " + shellQuote(context)
	}
	return extra
}

// WritePatches prints a kubectl patch command per workload with a patch and
// a comment for those without, so the output can be reviewed and run.
func WritePatches(out io.Writer, r Report, kubectlFlags string) error {
	w := report.NewPrinter(out)
	w.Printf("# nodewatch recommend: %d workload(s), memory reserved %s → %s (from %s of history)\n",
		len(r.Workloads), bytesOf(r.MemoryReservedBefore), bytesOf(r.MemoryReservedAfter), r.Since)
	for _, wl := range r.Workloads {
		b, why := PatchFor(wl)
		if b == nil {
			w.Printf("# %s %s/%s: no patch: %s\n", wl.Namespace, wl.Kind, wl.Name, why)
			continue
		}
		p := Patch{Namespace: wl.Namespace, Kind: wl.Kind, Name: wl.Name, Patch: b}
		if why != "" {
			w.Printf("# %s %s/%s: not sized: %s\n", wl.Namespace, wl.Kind, wl.Name, why)
		}
		if _, err := fmt.Fprintln(w, p.Command(kubectlFlags)); err != nil {
			return err
		}
	}
	return w.Err()
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// Apply runs every patch as a server-side dry run first (admission,
// validation, LimitRanges and quotas included) and applies them only when
// all pass, so a refused patch leaves the cluster unchanged.
func Apply(ctx context.Context, c kubernetes.Interface, ps []Patch, log io.Writer) error {
	if len(ps) == 0 {
		_, err := fmt.Fprintln(log, "Nothing to apply: no workload has a sized container.")
		return err
	}
	var errs []error
	for _, p := range ps {
		if err := patchWorkload(ctx, c, p, true); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("server-side dry run refused %d of %d patch(es), nothing was applied:\n%w", len(errs), len(ps), errors.Join(errs...))
	}
	for i, p := range ps {
		if err := patchWorkload(ctx, c, p, false); err != nil {
			return fmt.Errorf("applying %s (after %d of %d applied): %w", p, i, len(ps), err)
		}
		// Progress only: the patch is applied, and a log that cannot be
		// written is no reason to leave the rest unapplied.
		_, _ = fmt.Fprintf(log, "%s/%s patched (namespace %s)\n", strings.ToLower(p.Kind), p.Name, p.Namespace)
	}
	return nil
}

func patchWorkload(ctx context.Context, c kubernetes.Interface, p Patch, dryRun bool) error {
	o := metav1.PatchOptions{FieldManager: "nodewatch-recommend"}
	if dryRun {
		o.DryRun = []string{metav1.DryRunAll}
	}
	pt, ns := types.StrategicMergePatchType, p.Namespace
	var err error
	switch p.Kind {
	case "Deployment":
		_, err = c.AppsV1().Deployments(ns).Patch(ctx, p.Name, pt, p.Patch, o)
	case "StatefulSet":
		_, err = c.AppsV1().StatefulSets(ns).Patch(ctx, p.Name, pt, p.Patch, o)
	case "DaemonSet":
		_, err = c.AppsV1().DaemonSets(ns).Patch(ctx, p.Name, pt, p.Patch, o)
	case "ReplicaSet":
		_, err = c.AppsV1().ReplicaSets(ns).Patch(ctx, p.Name, pt, p.Patch, o)
	case "ReplicationController":
		_, err = c.CoreV1().ReplicationControllers(ns).Patch(ctx, p.Name, pt, p.Patch, o)
	case "CronJob":
		_, err = c.BatchV1().CronJobs(ns).Patch(ctx, p.Name, pt, p.Patch, o)
	default:
		err = fmt.Errorf("kind %s cannot be patched", p.Kind)
	}
	return err
}
