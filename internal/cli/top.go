package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"

	"github.com/nodewatch/nodewatch/internal/cluster"
	"github.com/nodewatch/nodewatch/internal/kube"
	"github.com/nodewatch/nodewatch/internal/report"
)

// historyAPI reads the daemon's Prometheus-compatible API (or any
// Prometheus-compatible store) with client_golang's client.
func historyAPI(server string) (promv1.API, error) {
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	c, err := api.NewClient(api.Config{Address: server, RoundTripper: daemonRoundTripper()})
	if err != nil {
		return nil, fmt.Errorf("--nodewatch-url %s: %w", server, err)
	}
	return promv1.NewAPI(c), nil
}

// byLabels runs an instant query and returns the values keyed by the
// joined values of the given labels.
func byLabels(ctx context.Context, a promv1.API, q string, at time.Time, keys ...string) (map[string]float64, error) {
	v, _, _, err := a.Query(ctx, q, at)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", q, err)
	}
	out := map[string]float64{}
	vec, _ := v.(model.Vector)
	for _, s := range vec {
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = string(s.Metric[model.LabelName(k)])
		}
		out[strings.Join(parts, "/")] = float64(s.Value)
	}
	return out, nil
}

type topOptions struct {
	server  string
	output  string
	timeout time.Duration
}

func newTop(g *globals) *cobra.Command {
	o := &topOptions{}
	cmd := &cobra.Command{
		Use:   "top nodes|pods",
		Short: "Memory and CPU in use against requests, limits and allocatable, from nodewatch's history",
		Long: `Show what nodes and pods use now (from the running daemon's resource history)
next to what they request and are limited to (from the cluster) — the numbers
to look at before setting requests and limits.`,
		Example: `  nodewatch top nodes
  nodewatch top pods -n emails
  nodewatch top pods -A -o json --nodewatch-url http://nodewatch.monitoring:8080`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"nodes", "pods"},
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := report.ParseFormat(o.output, report.Text, report.JSON, report.YAML)
			if err != nil {
				return err
			}
			if args[0] != "nodes" && args[0] != "pods" {
				return fmt.Errorf("top %q: use top nodes or top pods", args[0])
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
			defer cancel()
			a, err := historyAPI(o.server)
			if err != nil {
				return err
			}
			client, err := g.access.Client()
			if err != nil {
				return err
			}
			snap, err := kube.List(ctx, client, g.namespaceScope())
			if err != nil {
				return err
			}
			if args[0] == "nodes" {
				rows, err := topNodes(ctx, a, snap, g.now())
				if err != nil {
					return err
				}
				return report.Write(g.Out, format, rows, func(w io.Writer) error { return topNodesText(w, rows) })
			}
			rows, err := topPods(ctx, a, snap, g.namespaceScope(), g.now())
			if err != nil {
				return err
			}
			return report.Write(g.Out, format, rows, func(w io.Writer) error { return topPodsText(w, rows) })
		},
	}
	g.nodewatchURLVar(cmd.Flags(), &o.server, "the nodewatch daemon (or a Prometheus) to read usage from")
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text, json or yaml")
	cmd.Flags().DurationVar(&o.timeout, "request-timeout", 30*time.Second, "give up after this long")
	return cmd
}

// NodeUsage is one row of top nodes.
type NodeUsage struct {
	Name        string  `json:"name"`
	Memory      int64   `json:"memoryWorkingSet"`
	Allocatable int64   `json:"memoryAllocatable"`
	Requests    int64   `json:"memoryRequests"`
	Limits      int64   `json:"memoryLimits"`
	Unbounded   int     `json:"podsWithoutMemoryLimit"`
	CPU         float64 `json:"cpuCores"`
	// MajorFaults is the root cgroup's major page faults per second over 5m.
	MajorFaults float64 `json:"majorPageFaultsPerSecond"`
}

func topNodes(ctx context.Context, a promv1.API, s *cluster.Snapshot, now time.Time) ([]NodeUsage, error) {
	mem, err := byLabels(ctx, a, `node_memory_working_set_bytes`, now, "node")
	if err != nil {
		return nil, err
	}
	cpu, err := byLabels(ctx, a, `rate(node_cpu_usage_seconds_total[5m])`, now, "node")
	if err != nil {
		return nil, err
	}
	pf, err := byLabels(ctx, a, `rate(container_memory_failures_total{failure_type="pgmajfault",id="/"}[5m])`, now, "node")
	if err != nil {
		return nil, err
	}
	rows := map[string]*NodeUsage{}
	for _, n := range s.Nodes {
		rows[n.Name] = &NodeUsage{Name: n.Name, Allocatable: n.AllocatableMemory, Memory: int64(mem[n.Name]), CPU: cpu[n.Name], MajorFaults: pf[n.Name]}
	}
	for _, p := range s.Pods {
		r, ok := rows[p.NodeName]
		if !ok || p.Phase == "Succeeded" || p.Phase == "Failed" {
			continue
		}
		if p.MemoryRequest != nil {
			r.Requests += *p.MemoryRequest
		}
		if p.MemoryLimit != nil {
			r.Limits += *p.MemoryLimit
		} else {
			r.Unbounded++
		}
	}
	out := make([]NodeUsage, 0, len(rows))
	for _, r := range rows {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b NodeUsage) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func pct(a, b int64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%d%%", a*100/b)
}

func topNodesText(w io.Writer, rows []NodeUsage) error {
	tw := report.NewTable(w)
	tw.Println("NODE\tMEMORY\tALLOCATABLE\tMEMORY%\tREQUESTS\tREQUESTS%\tLIMITS\tLIMITS%\tNO-LIMIT PODS\tCPU\tMAJOR FAULTS/s")
	for _, r := range rows {
		tw.Printf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%.2f\t%.1f\n", r.Name, report.Bytes(&r.Memory, "-"), report.Bytes(&r.Allocatable, "-"),
			pct(r.Memory, r.Allocatable), report.Bytes(&r.Requests, "-"), pct(r.Requests, r.Allocatable),
			report.Bytes(&r.Limits, "-"), pct(r.Limits, r.Allocatable), r.Unbounded, r.CPU, r.MajorFaults)
	}
	return tw.Flush()
}

// PodUsage is one row of top pods.
type PodUsage struct {
	Namespace string        `json:"namespace"`
	Name      string        `json:"name"`
	Node      string        `json:"node"`
	Owner     cluster.Owner `json:"owner"`
	Memory    int64         `json:"memoryWorkingSet"`
	Request   *int64        `json:"memoryRequest"`
	Limit     *int64        `json:"memoryLimit"`
	CPU       float64       `json:"cpuCores"`
}

func topPods(ctx context.Context, a promv1.API, s *cluster.Snapshot, namespace string, now time.Time) ([]PodUsage, error) {
	sel := ""
	if namespace != "" {
		sel = fmt.Sprintf(`namespace=%q`, namespace)
	}
	mem, err := byLabels(ctx, a, fmt.Sprintf(`sum by (namespace, pod) (container_memory_working_set_bytes{%s})`, sel), now, "namespace", "pod")
	if err != nil {
		return nil, err
	}
	cpu, err := byLabels(ctx, a, fmt.Sprintf(`sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{%s}[5m]))`, sel), now, "namespace", "pod")
	if err != nil {
		return nil, err
	}
	var out []PodUsage
	for i := range s.Pods {
		p := &s.Pods[i]
		if p.NodeName == "" || p.Phase == "Succeeded" || p.Phase == "Failed" {
			continue
		}
		out = append(out, PodUsage{Namespace: p.Namespace, Name: p.Name, Node: p.NodeName, Owner: s.Owners.Resolve(p),
			Memory: int64(mem[p.Key()]), Request: p.MemoryRequest, Limit: p.MemoryLimit, CPU: cpu[p.Key()]})
	}
	// Heaviest first, as in kubectl top --sort-by=memory.
	slices.SortFunc(out, func(a, b PodUsage) int {
		if a.Memory != b.Memory {
			return int(b.Memory - a.Memory)
		}
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return out, nil
}

func topPodsText(w io.Writer, rows []PodUsage) error {
	tw := report.NewTable(w)
	tw.Println("NAMESPACE\tPOD\tWORKLOAD\tNODE\tMEMORY\tREQUEST\tLIMIT\tOF LIMIT\tCPU")
	for _, r := range rows {
		ofLimit := "unbounded"
		if r.Limit != nil {
			ofLimit = pct(r.Memory, *r.Limit)
		}
		tw.Printf("%s\t%s\t%s/%s\t%s\t%s\t%s\t%s\t%s\t%.3f\n", r.Namespace, r.Name, r.Owner.Kind, r.Owner.Name, r.Node,
			report.Bytes(&r.Memory, "-"), report.Bytes(r.Request, "-"), report.Bytes(r.Limit, "none"), ofLimit, r.CPU)
	}
	return tw.Flush()
}
