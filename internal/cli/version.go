package cli

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Version is set at build time with -ldflags "-X .../internal/cli.Version=v1.2.3".
var Version = "dev"

func newVersion(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print nodewatch's version and the Kubernetes client it was built with",
		Example: "  nodewatch version",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			clientGo, goVersion := "unknown", "unknown"
			if bi, ok := debug.ReadBuildInfo(); ok {
				goVersion = bi.GoVersion
				for _, d := range bi.Deps {
					if d.Path == "k8s.io/client-go" {
						clientGo = d.Version
					}
				}
			}
			_, err := fmt.Fprintf(g.Out, "nodewatch %s (client-go %s, %s)\n", Version, clientGo, goVersion)
			return err
		},
	}
}
