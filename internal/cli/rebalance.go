package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/nodewatch/nodewatch/internal/analyze/rebalance"
	"github.com/nodewatch/nodewatch/internal/kube"
	"github.com/nodewatch/nodewatch/internal/report"
)

type rebalanceOptions struct {
	server, output     string
	window             days
	dryRun, apply, yes bool
	tolerance          float64 // percentage points
	timeout, waitTime  time.Duration
	poll               time.Duration
	plan               rebalance.Options
}

func newRebalance(g *globals) *cobra.Command {
	return rebalanceCommand(g, func(server string) (kubernetes.Interface, promv1.API, error) {
		a, err := historyAPI(server)
		if err != nil {
			return nil, nil, err
		}
		client, err := g.access.Client()
		return client, a, err
	})
}

func rebalanceCommand(g *globals, connect connectFunc) *cobra.Command {
	o := &rebalanceOptions{window: days(time.Hour), dryRun: true, plan: rebalance.DefaultOptions(), poll: time.Second}
	o.tolerance = o.plan.Tolerance * 100
	cmd := &cobra.Command{
		Use:   "rebalance",
		Short: "Plan (and with --apply --yes, make) evictions that spread pods over the nodes by actual memory usage",
		Long: `Kubernetes never moves a running pod: nodes that join stay empty, and nodes
whose pods grew stay full. rebalance plans which pods to evict so that the
scheduler spreads them by what they use, from nodewatch's history (the peak
working set over --window; a pod without history counts with its memory
request):

  repeatedly take the most loaded node (memory in use as a share of its
  allocatable, requests break ties) and move one pod from it to the least
  loaded node that fits it (memory and CPU requests within allocatable, its
  node selector and required node affinity, the node's NoSchedule and
  NoExecute taints against its tolerations), while the two are at least --tolerance
  points apart and the pod fits within the gap (or narrows it by at least
  --tolerance), up to --max-moves.

Never moved: DaemonSet pods, static (mirror) pods, pods without a
controller, Job pods, kube-system pods unless -n kube-system, and pods whose
PodDisruptionBudget allows no disruption now. One replica of a workload at a
time: a workload's second move is in the second wave, and so on.

It is a dry run by default: the plan shows each move (pod, from, expected
target, its usage and request, why) and every node's expected usage before
and after. --apply --yes evicts through the Eviction API, one pod at a time,
waiting until the pod's workload is back at its desired replicas before the
next eviction; an eviction a PodDisruptionBudget refuses (429) is reported
and skipped, never forced. Where a pod lands is the scheduler's choice (by
requests): the target is an expectation. Not modelled: pod (anti-)affinity,
topology spread constraints, preferred node affinity, host ports, volumes
bound to a zone or node.`,
		Example: `  nodewatch rebalance
  nodewatch rebalance -n web -o json
  nodewatch rebalance --max-moves 5 --apply --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := o.validate(cmd, g)
			if err != nil {
				return err
			}
			client, a, err := connect(o.server)
			if err != nil {
				return err
			}
			return runRebalance(cmd.Context(), g, o, format, client, a)
		},
	}
	f := cmd.Flags()
	g.nodewatchURLVar(f, &o.server, "the nodewatch daemon (or a Prometheus) to read usage from")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text, json or yaml")
	f.Var(&o.window, "window", "usage is each pod's peak working set over this long")
	f.BoolVar(&o.dryRun, "dry-run", true, "only show the plan (the default)")
	f.BoolVar(&o.apply, "apply", false, "evict the planned pods (needs --yes)")
	f.BoolVar(&o.yes, "yes", false, "confirm --apply")
	f.IntVar(&o.plan.MaxMoves, "max-moves", o.plan.MaxMoves, "the most evictions to plan")
	f.Float64Var(&o.tolerance, "tolerance", o.tolerance, "nodes whose memory usage is within this many points of allocatable of each other are balanced")
	f.DurationVar(&o.timeout, "request-timeout", 2*time.Minute, "give up reading the cluster and the history after this long")
	f.DurationVar(&o.waitTime, "wait-timeout", 5*time.Minute, "with --apply: how long to wait for an evicted pod's workload to be whole again before stopping")
	return cmd
}

func (o *rebalanceOptions) validate(cmd *cobra.Command, g *globals) (report.Format, error) {
	format, err := report.ParseFormat(o.output, report.Text, report.JSON, report.YAML)
	if err != nil {
		return "", err
	}
	var errs []error
	if o.apply && !o.yes {
		errs = append(errs, errors.New("--apply evicts pods (their controllers re-create them elsewhere): add --yes to evict, or review the plan first without --apply"))
	}
	if o.apply && cmd.Flags().Changed("dry-run") && o.dryRun {
		errs = append(errs, errors.New("--dry-run and --apply contradict each other: leave out one"))
	}
	if !o.apply && cmd.Flags().Changed("dry-run") && !o.dryRun {
		errs = append(errs, errors.New("--dry-run=false evicts nothing by itself: use --apply --yes"))
	}
	if o.window <= 0 {
		errs = append(errs, fmt.Errorf("--window must be positive, got %s", o.window))
	}
	if o.timeout <= 0 || o.waitTime <= 0 {
		errs = append(errs, fmt.Errorf("--request-timeout and --wait-timeout must be positive, got %s and %s", o.timeout, o.waitTime))
	}
	o.plan.Tolerance = o.tolerance / 100
	o.plan.Namespace = ""
	if !g.allNamespaces {
		o.plan.Namespace = g.namespace
	}
	if err := o.plan.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("--max-moves, --tolerance (in points, between 0 and 100): %w", err))
	}
	return format, errors.Join(errs...)
}

// RebalanceReport is rebalance's result.
type RebalanceReport struct {
	Generated time.Time `json:"generated"`
	Server    string    `json:"server"`
	Window    string    `json:"window"`
	DryRun    bool      `json:"dryRun"`
	rebalance.Plan
	// Applied are the evictions made with --apply, in order.
	Applied []Eviction `json:"applied,omitempty"`
}

// Eviction results.
const (
	EvictionDone    = "evicted"
	EvictionSkipped = "skipped"
	EvictionFailed  = "failed"
)

// Eviction is one applied move.
type Eviction struct {
	Namespace string `json:"namespace"`
	Pod       string `json:"pod"`
	From      string `json:"from"`
	Result    string `json:"result"`
	Message   string `json:"message,omitempty"`
}

func runRebalance(ctx context.Context, g *globals, o *rebalanceOptions, format report.Format, client kubernetes.Interface, a promv1.API) error {
	readCtx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	in, notes, err := readRebalanceInput(readCtx, client, a, time.Duration(o.window), g.now())
	if err != nil {
		return fmt.Errorf("%w (is nodewatch run serving at %s? see --nodewatch-url)", err, o.server)
	}
	r := RebalanceReport{Generated: g.now(), Server: o.server, Window: o.window.String(), DryRun: !o.apply, Plan: rebalance.Make(in, o.plan)}
	r.Assumptions = append(r.Assumptions, notes...)
	if !o.apply {
		return report.Write(g.Out, format, r, r.WriteText)
	}
	log := g.Err // keep stdout parseable
	if format == report.Text {
		if err := r.WriteText(g.Out); err != nil {
			return err
		}
		log = g.Out
	}
	r.Applied = evictAll(ctx, client, r.Moves, o, log)
	if format != report.Text {
		if err := report.Write(g.Out, format, r, nil); err != nil {
			return err
		}
	}
	for _, e := range r.Applied {
		if e.Result != EvictionDone {
			return errFindings
		}
	}
	return nil
}

// usageQuery is each pod's peak working set over the window: the sum of
// its containers' maxima (an upper bound of the pod's peak).
const usageQuery = `sum by (namespace, pod) (max_over_time(container_memory_working_set_bytes{container!="",container!="POD"}[%ds]))`

// readRebalanceInput lists the whole cluster (every namespace loads the
// nodes), its PodDisruptionBudgets and every pod's usage.
func readRebalanceInput(ctx context.Context, client kubernetes.Interface, a promv1.API, window time.Duration, now time.Time) (rebalance.Input, []string, error) {
	in := rebalance.Input{Nodes: map[string]rebalance.NodeInfo{}, Pods: map[string]rebalance.PodInfo{}}
	var notes []string
	snap, err := kube.ListWith(ctx, client, "", kube.Hooks{
		Node: func(n *corev1.Node) {
			ni := rebalance.NodeInfo{Labels: n.Labels, AllocatableMilliCPU: n.Status.Allocatable.Cpu().MilliValue()}
			for _, t := range n.Spec.Taints {
				ni.Taints = append(ni.Taints, rebalance.Taint{Key: t.Key, Value: t.Value, Effect: string(t.Effect)})
			}
			in.Nodes[n.Name] = ni
		},
		Pod: func(p *corev1.Pod) {
			if p.Spec.NodeName == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				return
			}
			_, mirror := p.Annotations[corev1.MirrorPodAnnotationKey]
			pi := rebalance.PodInfo{Labels: p.Labels, NodeSelector: p.Spec.NodeSelector, Mirror: mirror}
			for _, t := range p.Spec.Tolerations {
				pi.Tolerations = append(pi.Tolerations, rebalance.Toleration{Key: t.Key, Operator: string(t.Operator), Value: t.Value, Effect: string(t.Effect)})
			}
			pi.RequiredAffinity = requiredAffinity(p.Spec.Affinity)
			in.Pods[p.Namespace+"/"+p.Name] = pi
		},
	})
	if err != nil {
		return in, nil, err
	}
	in.Snapshot = snap
	pdbs, err := client.PolicyV1().PodDisruptionBudgets("").List(ctx, metav1.ListOptions{})
	switch {
	case apierrors.IsForbidden(err):
		notes = append(notes, "PodDisruptionBudgets could not be read (forbidden): the plan does not weigh them; the Eviction API still enforces them under --apply")
	case err != nil:
		return in, nil, fmt.Errorf("listing poddisruptionbudgets: %w", err)
	default:
		for _, b := range pdbs.Items {
			sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
			if err != nil || b.Spec.Selector == nil {
				sel = labels.Nothing()
			}
			in.PDBs = append(in.PDBs, rebalance.PDB{Namespace: b.Namespace, Name: b.Name, Selector: sel, DisruptionsAllowed: b.Status.DisruptionsAllowed})
		}
	}
	usage, err := byLabels(ctx, a, fmt.Sprintf(usageQuery, int64(window.Seconds())), now, "namespace", "pod")
	if err != nil {
		return in, nil, fmt.Errorf("reading usage: %w", err)
	}
	in.Usage = make(map[string]int64, len(usage))
	for k, v := range usage {
		in.Usage[k] = int64(v)
	}
	return in, notes, nil
}

// evictAll evicts the moves in order, one at a time; after each, it waits
// for the pod's workload to be back at its desired replicas. A refusal by
// a PodDisruptionBudget (429) skips the move. A workload that does not
// recover within --wait-timeout stops the rest.
func evictAll(ctx context.Context, client kubernetes.Interface, moves []rebalance.Move, o *rebalanceOptions, log io.Writer) []Eviction {
	out := []Eviction{}
	for i, m := range moves {
		e := Eviction{Namespace: m.Namespace, Pod: m.Pod, From: m.From}
		p, err := client.CoreV1().Pods(m.Namespace).Get(ctx, m.Pod, metav1.GetOptions{})
		if err == nil && p.Spec.NodeName != m.From {
			err = fmt.Errorf("the pod moved to %s since the plan was made", p.Spec.NodeName)
		}
		if err == nil {
			err = client.PolicyV1().Evictions(m.Namespace).Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Namespace: m.Namespace, Name: m.Pod}})
		}
		switch {
		case err == nil:
			e.Result = EvictionDone
		case apierrors.IsTooManyRequests(err):
			e.Result, e.Message = EvictionSkipped, "refused by a PodDisruptionBudget, not forced: "+err.Error()
		case apierrors.IsNotFound(err):
			e.Result, e.Message = EvictionSkipped, "the pod is gone already"
		default:
			e.Result, e.Message = EvictionSkipped, err.Error()
			if !strings.HasPrefix(err.Error(), "the pod moved") {
				e.Result = EvictionFailed
			}
		}
		// The log is progress for the person watching; a failed write to it
		// is no reason to stop between evictions.
		if e.Result != EvictionDone {
			_, _ = fmt.Fprintf(log, "%s %s/%s: %s\n", e.Result, m.Namespace, m.Pod, e.Message)
			out = append(out, e)
			continue
		}
		_, _ = fmt.Fprintf(log, "evicted %s/%s from %s; waiting for %s/%s to be back at its desired replicas\n", m.Namespace, m.Pod, m.From, m.Workload.Kind, m.Workload.Name)
		if err := waitWhole(ctx, client, p, o); err != nil {
			e.Message = "evicted, but " + err.Error()
			out = append(out, e)
			_, _ = fmt.Fprintf(log, "stopped: %v; %d move(s) not made\n", err, len(moves)-i-1)
			return out
		}
		out = append(out, e)
	}
	return out
}

// waitWhole waits until the evicted pod is gone (a StatefulSet's
// replacement has its name but not its UID) and its controller
// (ReplicaSet, StatefulSet or ReplicationController) has at least its
// desired replicas Running and Ready again. For other controllers only the
// pod's deletion is awaited.
func waitWhole(ctx context.Context, client kubernetes.Interface, evicted *corev1.Pod, o *rebalanceOptions) error {
	ctx, cancel := context.WithTimeout(ctx, o.waitTime)
	defer cancel()
	ns := evicted.Namespace
	owner := metav1.GetControllerOf(evicted)
	check := func() (bool, error) {
		p, err := client.CoreV1().Pods(ns).Get(ctx, evicted.Name, metav1.GetOptions{})
		if err == nil && p.UID == evicted.UID {
			return false, nil // still there, terminating
		}
		if err != nil && !apierrors.IsNotFound(err) {
			return false, err
		}
		if owner == nil {
			return true, nil
		}
		desired, selector, err := desiredReplicas(ctx, client, ns, *owner)
		if err != nil || selector == "" {
			return err == nil, err
		}
		pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, err
		}
		ready := int32(0)
		for i := range pods.Items {
			p := &pods.Items[i]
			c := metav1.GetControllerOf(p)
			if p.UID == evicted.UID || p.DeletionTimestamp != nil || c == nil || c.UID != owner.UID || p.Status.Phase != corev1.PodRunning {
				continue
			}
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready >= desired, nil
	}
	what := "pod " + ns + "/" + evicted.Name
	if owner != nil {
		what = strings.ToLower(owner.Kind) + " " + ns + "/" + owner.Name
	}
	for {
		done, err := check()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not back at its desired replicas within %s (--wait-timeout)", what, o.waitTime)
		case <-time.After(o.poll):
		}
	}
}

// desiredReplicas returns the controller's desired replicas and its pods'
// selector; "" when the controller is of another kind (nothing to wait for
// but the pod's deletion).
func desiredReplicas(ctx context.Context, client kubernetes.Interface, ns string, owner metav1.OwnerReference) (int32, string, error) {
	one := func(r *int32) int32 {
		if r == nil {
			return 1
		}
		return *r
	}
	switch owner.Kind {
	case "ReplicaSet":
		rs, err := client.AppsV1().ReplicaSets(ns).Get(ctx, owner.Name, metav1.GetOptions{})
		if err != nil {
			return 0, "", err
		}
		return one(rs.Spec.Replicas), metav1.FormatLabelSelector(rs.Spec.Selector), nil
	case "StatefulSet":
		ss, err := client.AppsV1().StatefulSets(ns).Get(ctx, owner.Name, metav1.GetOptions{})
		if err != nil {
			return 0, "", err
		}
		return one(ss.Spec.Replicas), metav1.FormatLabelSelector(ss.Spec.Selector), nil
	case "ReplicationController":
		rc, err := client.CoreV1().ReplicationControllers(ns).Get(ctx, owner.Name, metav1.GetOptions{})
		if err != nil {
			return 0, "", err
		}
		return one(rc.Spec.Replicas), labels.SelectorFromSet(rc.Spec.Selector).String(), nil
	}
	return 0, "", nil
}

// WriteText renders the plan for people.
func (r RebalanceReport) WriteText(out io.Writer) error {
	w := report.NewPrinter(out)
	mode := "dry run: nothing is evicted"
	if !r.DryRun {
		mode = "applying"
	}
	w.Printf("Rebalance plan (%s): %d move(s); spread of memory usage across nodes %s → %s of allocatable.\n\n",
		mode, len(r.Moves), points(r.SpreadBefore), points(r.SpreadAfter))
	if len(r.Moves) > 0 {
		tw := report.NewTable(w)
		tw.Println("WAVE\tPOD\tWORKLOAD\tFROM\tEXPECTED TARGET\tUSAGE\tREQUEST\tWHY")
		for _, m := range r.Moves {
			tw.Printf("%d\t%s/%s\t%s/%s\t%s\t%s\t%s (%s)\t%s\t%s\n", m.Wave, m.Namespace, m.Pod, m.Workload.Kind, m.Workload.Name,
				m.From, m.To, human(m.Usage), m.UsageSource, human(m.MemoryRequest), m.Reason)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		w.Println()
	} else {
		w.Println("No move needed: every node that could take a pod is within --tolerance of the nodes it could come from, or no pod fits.")
		w.Println()
	}
	w.Println("Expected memory usage per node:")
	tw := report.NewTable(w)
	tw.Println("NODE\tALLOCATABLE\tUSAGE BEFORE\tUSAGE AFTER\tREQUESTS BEFORE\tREQUESTS AFTER\tPODS BEFORE\tPODS AFTER")
	for _, n := range r.Nodes {
		name := n.Name
		if !n.Balanced {
			name += " (cordoned or not Ready: left alone)"
		}
		tw.Printf("%s\t%s\t%s (%s)\t%s (%s)\t%s\t%s\t%d\t%d\n", name, human(n.Allocatable), human(n.UsageBefore), percent(n.ShareBefore),
			human(n.UsageAfter), percent(n.ShareAfter), human(n.RequestsBefore), human(n.RequestsAfter), n.PodsBefore, n.PodsAfter)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Held) > 0 {
		w.Println("\nNot moved:")
		tw = report.NewTable(w)
		tw.Println("NAMESPACE\tWORKLOAD\tPODS\tWHY")
		for _, h := range r.Held {
			tw.Printf("%s\t%s/%s\t%d\t%s\n", h.Namespace, h.Workload.Kind, h.Workload.Name, h.Pods, h.Reason)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	w.Printf("\nUsage: each pod's peak working set over %s from %s; the memory request where there is no history.\nAssumptions:\n", r.Window, r.Server)
	for _, a := range r.Assumptions {
		w.Printf("  - %s\n", a)
	}
	if r.DryRun && len(r.Moves) > 0 {
		w.Println("\nTo evict: add --apply --yes (one pod at a time through the Eviction API, waiting for each workload to be whole again).")
	}
	return w.Err()
}

func percent(share float64) string { return fmt.Sprintf("%.0f%%", 100*share) }

func points(share float64) string { return fmt.Sprintf("%.0f points", 100*share) }

// human formats bytes as Mi below a GiB and Gi with one decimal above.
func human(n int64) string {
	if n >= 1<<30 || n <= -1<<30 {
		return fmt.Sprintf("%.1fGi", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%.0fMi", float64(n)/(1<<20))
}

// requiredAffinity converts a pod's required node affinity for the plan.
func requiredAffinity(a *corev1.Affinity) []rebalance.NodeSelectorTerm {
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return nil
	}
	conv := func(rs []corev1.NodeSelectorRequirement) []rebalance.Requirement {
		var out []rebalance.Requirement
		for _, r := range rs {
			out = append(out, rebalance.Requirement{Key: r.Key, Operator: string(r.Operator), Values: r.Values})
		}
		return out
	}
	var out []rebalance.NodeSelectorTerm
	for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		out = append(out, rebalance.NodeSelectorTerm{MatchExpressions: conv(t.MatchExpressions), MatchFields: conv(t.MatchFields)})
	}
	if out == nil {
		// No terms matches no node (the API server refuses it anyway).
		out = []rebalance.NodeSelectorTerm{{}}
	}
	return out
}
