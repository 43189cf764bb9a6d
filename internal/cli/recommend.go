package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/nodewatch/nodewatch/internal/analyze/rightsize"
	"github.com/nodewatch/nodewatch/internal/history"
	"github.com/nodewatch/nodewatch/internal/kube"
	"github.com/nodewatch/nodewatch/internal/recommend"
	"github.com/nodewatch/nodewatch/internal/report"
)

// Output formats of recommend beyond the shared ones.
const (
	formatTable report.Format = "table"
	formatPatch report.Format = "patch"
)

type recommendOptions struct {
	server, output, resolution string
	since                      days
	apply, yes, cpuLimits      bool
	minHistory                 days
	minSamples                 int
	timeout                    time.Duration
	rs                         rightsize.Options
}

// connectFunc returns the cluster and the history a command reads.
type connectFunc func(server string) (kubernetes.Interface, promv1.API, error)

// historyConnectFunc is connectFunc for a command whose analysis reads the
// history as the daemon does (recommend.History).
type historyConnectFunc func(server string) (kubernetes.Interface, recommend.History, error)

func newRecommend(g *globals) *cobra.Command {
	return recommendCommand(g, func(server string) (kubernetes.Interface, recommend.History, error) {
		h, err := historyClient(server)
		if err != nil {
			return nil, nil, err
		}
		client, err := g.access.Client()
		return client, h, err
	})
}

// historyClient reads the daemon's Prometheus-compatible API (or any
// Prometheus-compatible store) as the daemon reads a remote one.
func historyClient(server string) (*history.Remote, error) {
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	h, err := history.NewRemote(server, daemonRoundTripper())
	if err != nil {
		return nil, fmt.Errorf("--nodewatch-url: %w", err)
	}
	return h, nil
}

func recommendCommand(g *globals, connect historyConnectFunc) *cobra.Command {
	def := rightsize.DefaultOptions()
	o := &recommendOptions{since: days(7 * 24 * time.Hour), minHistory: days(def.MinSpan), minSamples: def.MinSamples}
	cmd := &cobra.Command{
		Use:   "recommend",
		Short: "Recommend memory and CPU requests and limits per workload from nodewatch's history; print or apply them as patches",
		Long: `Size every workload's containers from their history (nodewatch's daemon, or
any Prometheus with the kubelet's metrics, via --nodewatch-url) next to what they
declare now (from the cluster):

  memory request   p90 of the working set of all the workload's pods + 10 %
  memory limit     the peak + 25 % (at least + 32 MiB), or higher when bursts
                   vary: the level a burst exceeds with 1 % chance in 30 days
                   (an exponential tail fitted to the largest bursts); raised
                   after OOM kills by a bounded step per episode
  CPU request      p90 of CPU usage (CPU limit only with --cpu-limits)

Pods are pooled per workload (Deployment, StatefulSet, DaemonSet,
ReplicationController; every run of a CronJob or Job). A spiky workload gets
a request near its steady level and a limit above its spikes. A leaking
workload gets no size ("leak: fix the leak first"); too little history says
"not enough data". Memory reserved (requests × pods running now) is shown
before and after. The algorithm and its evaluation: docs/recommend.md.

--since up to 6h reads raw samples; longer reads the daemon's 5-minute maxima
(--resolution): the request can then come out higher, never lower — a spike
shorter than 5 minutes counts as a whole window; --resolution raw reads the
30 s samples for the exact p90 (10× the points).

-o patch prints a kubectl patch command (strategic merge) per workload.
--apply --yes applies the same patches after a server-side dry run of all of
them succeeds; changing a pod template re-creates its pods.`,
		Example: `  nodewatch recommend
  nodewatch recommend -n emails -o json --since 14d
  nodewatch recommend -A -o patch > patches.sh     # review, then: sh patches.sh
  nodewatch recommend -n emails --apply --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := o.validate()
			if err != nil {
				return err
			}
			client, a, err := connect(o.server)
			if err != nil {
				return err
			}
			return runRecommend(cmd.Context(), g, o, format, client, a)
		},
	}
	f := cmd.Flags()
	g.nodewatchURLVar(f, &o.server, "the nodewatch daemon (or a Prometheus) to read history from")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text, json, yaml or patch (table: the same as text, its former name)")
	f.Var(&o.since, "since", "how much history to size from (e.g. 6h, 7d, 14d)")
	f.StringVar(&o.resolution, "resolution", recommend.ResolutionAuto, "history read: raw samples, 5m aggregates, or auto (raw up to 6h)")
	f.BoolVar(&o.cpuLimits, "cpu-limits", false, "recommend CPU limits too (they throttle even on an idle node)")
	f.BoolVar(&o.apply, "apply", false, "apply the patches to the cluster (needs --yes)")
	f.BoolVar(&o.yes, "yes", false, "confirm --apply")
	f.Var(&o.minHistory, "min-history", "the least span of history to size a container from")
	f.IntVar(&o.minSamples, "min-samples", o.minSamples, "the fewest memory samples to size a container from")
	f.DurationVar(&o.timeout, "request-timeout", 2*time.Minute, "give up after this long")
	return cmd
}

// validate checks the flags before anything is read, and sets the
// algorithm's options from them.
func (o *recommendOptions) validate() (report.Format, error) {
	format, err := report.ParseFormat(o.output, formatTable, report.Text, report.JSON, report.YAML, formatPatch)
	if err != nil {
		return "", err
	}
	var errs []error
	if o.apply && !o.yes {
		errs = append(errs, errors.New("--apply changes the workloads' pod templates, which re-creates their pods: add --yes to apply, or review the patches first with -o patch"))
	}
	if o.since <= 0 {
		errs = append(errs, fmt.Errorf("--since must be positive, got %s", o.since))
	}
	if o.resolution, err = recommend.ResolveResolution(o.resolution, time.Duration(o.since)); err != nil {
		errs = append(errs, err)
	}
	if o.timeout <= 0 {
		errs = append(errs, fmt.Errorf("--request-timeout must be positive, got %s", o.timeout))
	}
	if o.rs, err = recommend.Sizing(time.Duration(o.minHistory), o.minSamples, o.cpuLimits); err != nil {
		errs = append(errs, fmt.Errorf("--min-history, --min-samples: %w", err))
	}
	return format, errors.Join(errs...)
}

func runRecommend(ctx context.Context, g *globals, o *recommendOptions, format report.Format, client kubernetes.Interface, h recommend.History) error {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	ns := g.namespaceScope()
	snap, err := kube.List(ctx, client, ns)
	if err != nil {
		return err
	}
	r, err := recommend.Recommend(ctx, h, snap, recommend.Options{Namespace: ns, Now: g.now(), Since: time.Duration(o.since), Resolution: o.resolution, Sizing: o.rs})
	if err != nil {
		return fmt.Errorf("reading the history from %s: %w (is nodewatch run serving there? see --nodewatch-url)", o.server, err)
	}
	r.Server = o.server
	patches := r.Patches()
	switch format {
	case formatPatch:
		err = recommend.WritePatches(g.Out, r, recommend.KubectlFlags(g.access.Kubeconfig, g.access.Context))
	case report.JSON, report.YAML:
		err = report.Write(g.Out, format, r, nil)
	default:
		err = r.WriteTable(g.Out)
	}
	if err != nil || !o.apply {
		return err
	}
	log := g.Out
	if format == report.JSON || format == report.YAML {
		log = g.Err // keep stdout parseable
	}
	return recommend.Apply(ctx, client, patches, log)
}

// days is a duration flag that also takes days and weeks (7d, 2w), as
// Prometheus writes them.
type days time.Duration

func (d days) String() string {
	if day := days(24 * time.Hour); d > 0 && d%day == 0 {
		return fmt.Sprintf("%dd", d/day)
	}
	return model.Duration(d).String()
}
func (d days) Type() string { return "duration" }
func (d *days) Set(s string) error {
	v, err := parseDays(s)
	if err != nil {
		return err
	}
	*d = days(v)
	return nil
}
