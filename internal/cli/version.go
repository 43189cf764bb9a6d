package cli

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// The build stamps these with -ldflags "-X .../internal/cli.Version=v1.2.3
// -X .../internal/cli.Commit=<sha> -X .../internal/cli.TreeState=clean" (the
// Makefile takes them from git describe, git rev-parse and git status). A
// binary built without them (go build, go install) falls back to what the Go
// toolchain recorded of the repository (vcs.revision, vcs.modified), if any.
var (
	Version   = "dev"
	Commit    = ""
	TreeState = "" // "clean" or "dirty": whether the tree held uncommitted changes
)

// buildInfo is what `nodewatch version` prints, resolved from the stamped
// variables first and the binary's build information second.
type buildInfo struct {
	Version, Commit, TreeState, ClientGo, GoVersion string
}

func readBuildInfo(bi *debug.BuildInfo, ok bool) buildInfo {
	info := buildInfo{Version: Version, Commit: Commit, TreeState: TreeState, ClientGo: "unknown", GoVersion: "unknown"}
	if !ok || bi == nil {
		return info
	}
	info.GoVersion = bi.GoVersion
	for _, d := range bi.Deps {
		if d.Path == "k8s.io/client-go" {
			info.ClientGo = d.Version
		}
	}
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision" && info.Commit == "":
			info.Commit = s.Value
		case s.Key == "vcs.modified" && info.TreeState == "":
			info.TreeState = map[string]string{"true": "dirty", "false": "clean"}[s.Value]
		}
	}
	return info
}

func (b buildInfo) String() string {
	commit := b.Commit
	if commit == "" {
		commit = "unknown"
	}
	if b.TreeState != "" {
		commit += ", " + b.TreeState
	}
	return fmt.Sprintf("nodewatch %s (commit %s; client-go %s, %s)", b.Version, commit, b.ClientGo, b.GoVersion)
}

func newVersion(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print nodewatch's version, the commit it was built from and the Kubernetes client it links",
		Example: "  nodewatch version",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(g.Out, readBuildInfo(debug.ReadBuildInfo()))
			return err
		},
	}
}
