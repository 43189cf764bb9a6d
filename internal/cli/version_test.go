package cli

import (
	"runtime/debug"
	"strings"
	"testing"
)

// stamp sets the -ldflags variables for one test.
func stamp(t *testing.T, version, commit, tree string) {
	t.Helper()
	v, c, s := Version, Commit, TreeState
	Version, Commit, TreeState = version, commit, tree
	t.Cleanup(func() { Version, Commit, TreeState = v, c, s })
}

func TestVersionString(t *testing.T) {
	vcs := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Deps:      []*debug.Module{{Path: "k8s.io/client-go", Version: "v0.37.2"}},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	for _, tc := range []struct {
		name, version, commit, tree string
		bi                          *debug.BuildInfo
		want                        string
	}{
		{
			name: "stamped by the Makefile", version: "v0.3.0-4-g17afe47-dirty", commit: "17afe47aa4d3c0f0e3a6e5cc9d36f7a1f2b3c4d5", tree: "dirty",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Deps: vcs.Deps},
			want: "nodewatch v0.3.0-4-g17afe47-dirty (commit 17afe47aa4d3c0f0e3a6e5cc9d36f7a1f2b3c4d5, dirty; client-go v0.37.2, go1.26.8)",
		},
		{
			name: "stamps win over the toolchain's vcs settings", version: "v1.0.0", commit: "aaaa", tree: "clean", bi: vcs,
			want: "nodewatch v1.0.0 (commit aaaa, clean; client-go v0.37.2, go1.26.8)",
		},
		{
			name: "go build in a clone: the toolchain's vcs settings", version: "dev", bi: vcs,
			want: "nodewatch dev (commit 0123456789abcdef0123456789abcdef01234567, dirty; client-go v0.37.2, go1.26.8)",
		},
		{
			name: "no build information at all", version: "dev",
			want: "nodewatch dev (commit unknown; client-go unknown, unknown)",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stamp(t, tc.version, tc.commit, tc.tree)
			if got := readBuildInfo(tc.bi, tc.bi != nil).String(); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// The command itself prints the stamped version and commit on one line.
func TestVersionCommand(t *testing.T) {
	stamp(t, "v9.9.9", "feedface", "clean")
	out, errOut, code := run(t, nil, "", "version")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if !strings.HasPrefix(out, "nodewatch v9.9.9 (commit feedface, clean; client-go ") || strings.Count(out, "\n") != 1 {
		t.Errorf("version printed %q", out)
	}
}
