// Package cli is nodewatch's command line: one file per subcommand, each
// writing to the streams it is given, so commands run the same in tests as
// from a shell. Exit codes: 0 ok, 1 problems found, 2 could not run.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/nodewatch/nodewatch/internal/kube"
)

// Streams are a command's standard streams.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
}

// Exit codes.
const (
	ExitOK       = 0
	ExitFindings = 1
	ExitError    = 2
)

// errFindings makes a command exit 1 after printing its report.
var errFindings = errors.New("problems found")

// globals are the kubectl-like flags every command shares, and the
// process's injected dependencies.
type globals struct {
	Streams
	access        kube.Access
	namespace     string
	allNamespaces bool
	logLevel      string
	now           func() time.Time
	getenv        func(string) string
	log           *slog.Logger
}

// namespaceScope returns the namespace to read, "" for all.
// -A wins over -n, as in kubectl.
func (g *globals) namespaceScope() string {
	if g.allNamespaces {
		return ""
	}
	return g.namespace
}

// Execute runs the command line args and returns the exit code.
func Execute(ctx context.Context, args []string, s Streams) int {
	return execute(ctx, args, &globals{Streams: s, now: time.Now, getenv: os.Getenv})
}

func execute(ctx context.Context, args []string, g *globals) int {
	s := g.Streams
	root := newRoot(g)
	root.SetArgs(args)
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	return exitCode(root.ExecuteContext(ctx), s.Err)
}

// exitCode maps a command's error to the exit status, printing real errors.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, errFindings):
		return ExitFindings
	default:
		_, _ = fmt.Fprintf(stderr, "error: %v\n", err) // nowhere left to report a failure to write this
		return ExitError
	}
}

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "nodewatch",
		Short: "Know which node went down, which pods went with it, and why",
		Long: `nodewatch watches a Kubernetes cluster for nodes that go NotReady and tells you,
with the pods that were on them, the workloads behind them and their memory
requests and limits.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: use debug, info, warn or error", g.logLevel)
			}
			g.log = slog.New(slog.NewTextHandler(g.Err, &slog.HandlerOptions{Level: level}))
			return nil
		},
	}
	f := root.PersistentFlags()
	f.StringVar(&g.access.Kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default $KUBECONFIG, ~/.kube/config, then in-cluster)")
	f.StringVar(&g.access.Context, "context", "", "the kubeconfig context to use")
	f.StringVarP(&g.namespace, "namespace", "n", "", "only this namespace's pods")
	f.BoolVarP(&g.allNamespaces, "all-namespaces", "A", false, "pods of all namespaces (the default where a command says so)")
	f.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.AddCommand(newCheck(g), newRun(g), newIncidents(g), newTop(g), newHistory(g), newSuspects(g), newLeaks(g), newVersion(g))
	root.AddCommand(newAudit(g), newExplain(g))
	root.AddCommand(newRecommend(g))
	root.AddCommand(newRebalance(g))
	return root
}
