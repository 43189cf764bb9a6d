// Command image builds nodewatch's container image without a container
// engine: an OCI image layout (bin/image/oci) and the same layout as one tar
// (bin/image/nodewatch.oci.tar, for `podman load` or `skopeo copy
// oci-archive:`), an index of linux/amd64 and linux/arm64.
//
// The image is of a commit (HEAD by default), not of the working tree: the
// commit is exported with git archive and built there, so uncommitted edits
// never reach an image that names the commit, and the same commit gives the
// same digest on every machine with the same Go toolchain. Each image holds:
//
//   - /nodewatch, built with CGO_ENABLED=0 and -trimpath, version, commit and
//     tree state stamped as the Makefile stamps them;
//   - /etc/ssl/certs/ca-certificates.crt, the build machine's CA bundle
//     (Debian's ca-certificates), for Slack, webhooks and Alertmanager;
//   - /etc/passwd and /etc/group naming user 65532 nonroot, and nothing else:
//     no shell, no package manager.
//
// The user is 65532:65532, the entrypoint /nodewatch, the labels and the
// index's annotations org.opencontainers.image.{source,version,revision,
// licenses,created}. Every time in the image (created, the files' mtimes, the
// SBOM's) is the commit's time, or $SOURCE_DATE_EPOCH when set. Each
// platform's SBOM (SPDX 2.3 JSON: the Go modules the binary records, as `go
// version -m` lists them) is an OCI artifact in the layout whose subject is
// that platform's image (the referrers model of OCI 1.1).
//
// Usage: go run ./hack/image [-rev HEAD] [-out bin/image]
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func main() {
	var o options
	flag.StringVar(&o.Rev, "rev", "HEAD", "the commit to build")
	flag.StringVar(&o.Out, "out", "bin/image", "output directory: <out>/oci (layout) and <out>/nodewatch.oci.tar")
	flag.StringVar(&o.CA, "ca-certificates", defaultCA, "CA bundle to put in the image")
	flag.StringVar(&o.Source, "source", defaultSource, "org.opencontainers.image.source")
	flag.Parse()
	res, err := build(context.Background(), o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	fmt.Printf("%s %s (%s, created %s)\n%s\n%s\n", res.Digest, res.Version, res.Revision,
		res.Created.Format(time.RFC3339), res.Layout, res.Tarball)
}

// options are build's inputs; the zero Rev is HEAD.
type options struct {
	Rev, Out, CA, Source string
	// Platforms to build; the zero value is linux/amd64 and linux/arm64.
	Platforms []string
}

// result names what build wrote.
type result struct {
	Digest            string // the image index's digest
	Version, Revision string
	Created           time.Time
	Layout, Tarball   string
}

// platforms the image is built for, in the index's order.
var defaultPlatforms = []string{"linux/amd64", "linux/arm64"}

const (
	module        = "github.com/nodewatch/nodewatch"
	defaultSource = "https://" + module
	defaultCA     = "/etc/ssl/certs/ca-certificates.crt" // Debian's ca-certificates
)

// build exports the commit, builds a static binary per platform, and writes
// the layout and its tar under o.Out (replaced whole).
func build(ctx context.Context, o options) (result, error) {
	if o.Rev == "" {
		o.Rev = "HEAD"
	}
	if len(o.Platforms) == 0 {
		o.Platforms = defaultPlatforms
	}
	if o.CA == "" {
		o.CA = defaultCA
	}
	if o.Source == "" {
		o.Source = defaultSource
	}
	ca, err := os.ReadFile(o.CA)
	if err != nil {
		return result{}, fmt.Errorf("CA certificates: %w (on Debian: apt-get install ca-certificates)", err)
	}
	rev, err := git(ctx, "rev-parse", "--verify", o.Rev+"^{commit}")
	if err != nil {
		return result{}, err
	}
	version, err := git(ctx, "describe", "--tags", "--always", rev)
	if err != nil {
		return result{}, err
	}
	created, err := commitTime(ctx, rev)
	if err != nil {
		return result{}, err
	}

	work, err := os.MkdirTemp("", "nodewatch-image-")
	if err != nil {
		return result{}, err
	}
	defer func() { _ = os.RemoveAll(work) }() // a temporary directory: leaving it behind does not spoil the image
	src := filepath.Join(work, "src")
	top, err := git(ctx, "rev-parse", "--show-toplevel")
	if err != nil {
		return result{}, err
	}
	if err := export(ctx, top, rev, src); err != nil {
		return result{}, err
	}
	ldflags := strings.Join([]string{
		"-X " + module + "/internal/cli.Version=" + version,
		"-X " + module + "/internal/cli.Commit=" + rev,
		"-X " + module + "/internal/cli.TreeState=clean",
	}, " ")
	var bins []binary
	for _, p := range o.Platforms {
		goos, goarch, ok := strings.Cut(p, "/")
		if !ok {
			return result{}, fmt.Errorf("platform %q: want os/arch", p)
		}
		out := filepath.Join(work, goos+"-"+goarch, "nodewatch")
		//nolint:gosec // G204: go build with flags this program composes from git's answers and its platform list
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", ldflags, "-o", out, "./cmd/nodewatch")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch, "GOFLAGS=-mod=readonly")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return result{}, fmt.Errorf("go build for %s: %w", p, err)
		}
		bins = append(bins, binary{OS: goos, Arch: goarch, Path: out})
	}

	meta := metadata{Source: o.Source, Version: version, Revision: rev, Created: created, CA: ca}
	res := result{
		Version: version, Revision: rev, Created: created,
		Layout: filepath.Join(o.Out, "oci"), Tarball: filepath.Join(o.Out, "nodewatch.oci.tar"),
	}
	if err := os.RemoveAll(res.Layout); err != nil {
		return result{}, err
	}
	if res.Digest, err = writeLayout(res.Layout, meta, bins); err != nil {
		return result{}, err
	}
	if err := tarDir(res.Layout, res.Tarball, created); err != nil {
		return result{}, err
	}
	return res, os.WriteFile(filepath.Join(o.Out, "digest"), []byte(res.Digest+"\n"), 0o600)
}

func git(ctx context.Context, args ...string) (string, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "git", args...) //nolint:gosec // G204: git, with arguments of this program (and -rev)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// commitTime is $SOURCE_DATE_EPOCH if set, else the commit's committer time:
// never now, so two builds of one commit agree.
func commitTime(ctx context.Context, rev string) (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		var err error
		if s, err = git(ctx, "log", "-1", "--format=%ct", rev); err != nil {
			return time.Time{}, err
		}
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("commit time %q: %w", s, err)
	}
	return time.Unix(sec, 0).UTC(), nil
}

// export writes the commit's whole tree into dir (git archive | tar -x),
// from the repository's top: in a subdirectory, git archive takes only that.
func export(ctx context.Context, top, rev, dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	archive := exec.CommandContext(ctx, "git", "archive", "--format=tar", rev) //nolint:gosec // G204: rev is a commit id from git rev-parse
	archive.Dir = top
	untar := exec.CommandContext(ctx, "tar", "-x", "-C", dir) //nolint:gosec // G204: dir is this program's temporary directory
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return err
	}
	untar.Stdin = pipe
	archive.Stderr, untar.Stderr = os.Stderr, os.Stderr
	if err := archive.Start(); err != nil {
		return err
	}
	if err := untar.Run(); err != nil {
		_ = archive.Wait()
		return fmt.Errorf("exporting %s: %w", rev, err)
	}
	if err := archive.Wait(); err != nil {
		return fmt.Errorf("git archive %s: %w", rev, err)
	}
	return nil
}
