package cli

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/nodewatch/nodewatch/internal/audit"
	"github.com/nodewatch/nodewatch/internal/cluster"
	"github.com/nodewatch/nodewatch/internal/kube"
	"github.com/nodewatch/nodewatch/internal/report"
)

type auditOptions struct {
	file    string
	output  string
	failOn  string
	timeout time.Duration
}

func newAudit(g *globals) *cobra.Command {
	o := &auditOptions{}
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Audit memory and CPU requests and limits of every workload, namespace and node",
		Long: `Audit how every workload in every namespace (kube-system and third-party
namespaces included) declares memory and CPU, and say how to fix each gap:

  workloads   containers without a memory limit, a memory request or a CPU
              request; BestEffort pods. A container without a limit in a
              namespace whose LimitRange sets a default is not missing one:
              the LimitRange admission plugin gives it to new pods (pods that
              predate the LimitRange are reported as such, as info).
  namespaces  running pods but no LimitRange with a default memory limit, or
              no ResourceQuota that bounds memory.
  nodes       memory requests or limits of their pods summing past the node's
              allocatable memory; two or more pods without a memory limit on
              one node (any of them can take the node down).

Findings are per workload (pods grouped under their Deployment, StatefulSet,
DaemonSet, CronJob, ...), per namespace or per node, each with a severity
(critical, warning, info) and a one-line fix.

Reads a live cluster (namespaces, LimitRanges and ResourceQuotas too; being
denied them skips their checks, and the report says so), or with -f the
output of
  kubectl get nodes,pods,replicasets,jobs,namespaces,limitranges,resourcequotas -A -o json
(a dump with Namespace objects is taken to hold the LimitRanges and
ResourceQuotas too; without any, their checks are skipped). Every namespace
is audited unless -n is given; node checks need every pod and are skipped
with -n.

Exit status: 0 no finding at or above --fail-on (default warning), 1 such
findings, 2 could not audit.`,
		Example: `  # Audit the current kubectl context
  nodewatch audit

  # One namespace, as JSON
  nodewatch audit -n emails -o json

  # Audit a dump
  kubectl get nodes,pods,replicasets,jobs,namespaces,limitranges,resourcequotas -A -o json > cluster.json
  nodewatch audit -f cluster.json

  # In CI: fail only on critical findings
  nodewatch audit --fail-on critical -o yaml > audit.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runAudit(cmd.Context(), g, o) },
	}
	f := cmd.Flags()
	f.StringVarP(&o.file, "filename", "f", "", "read 'kubectl get nodes,pods,replicasets,jobs,namespaces,limitranges,resourcequotas -A -o json' output from this file ('-' for stdin) instead of the cluster")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text, json or yaml")
	f.StringVar(&o.failOn, "fail-on", string(audit.Warning), "exit 1 when a finding is at least this severe: critical, warning or info")
	f.DurationVar(&o.timeout, "request-timeout", 60*time.Second, "give up reading the cluster after this long")
	return cmd
}

func runAudit(ctx context.Context, g *globals, o *auditOptions) error {
	format, err := report.ParseFormat(o.output, report.Text, report.JSON, report.YAML)
	if err != nil {
		return err
	}
	failOn, err := audit.ParseSeverity(o.failOn)
	if err != nil {
		return err
	}
	snap, err := loadAuditSnapshot(ctx, g, o)
	if err != nil {
		return err
	}
	r := audit.Run(snap, audit.Options{Namespace: g.namespaceScope()}, g.now())
	if err := report.Write(g.Out, format, r, r.WriteText); err != nil {
		return err
	}
	if r.Failing(failOn) {
		return errFindings
	}
	return nil
}

func loadAuditSnapshot(ctx context.Context, g *globals, o *auditOptions) (*cluster.Snapshot, error) {
	if o.file != "" {
		return loadSnapshot(ctx, g, &checkOptions{file: o.file})
	}
	client, err := g.access.Client()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	ns := g.namespaceScope()
	snap, err := kube.List(ctx, client, ns)
	if err != nil {
		return nil, err
	}
	if err := kube.ListPolicies(ctx, client, ns, snap); err != nil {
		return nil, err
	}
	return snap, nil
}
