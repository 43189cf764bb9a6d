package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/nodewatch/nodewatch/internal/testenv"
)

// TestImage builds the image of HEAD twice, as `make image` does, and checks
// what a user pulling it relies on. It takes minutes with a cold build cache
// (two cross-compiled binaries); -short skips it. With
// NODEWATCH_REQUIRE_PODMAN=1 the image must also load and run in podman.
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nodewatch for two platforms")
	}
	ctx := context.Background()
	// HEAD once: a commit landing between the two builds would change it.
	rev, err := git(ctx, "rev-parse", "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	first, err := build(ctx, options{Rev: rev, Out: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	second, err := build(ctx, options{Rev: rev, Out: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("the same commit gives the same digest and the same tar", func(t *testing.T) {
		if first.Digest != second.Digest {
			t.Errorf("digests differ: %s, then %s", first.Digest, second.Digest)
		}
		if a, b := fileSum(t, first.Tarball), fileSum(t, second.Tarball); a != b {
			t.Errorf("tarballs differ: sha256 %x, then %x", a, b)
		}
		t.Logf("index %s (%s, %s)", first.Digest, first.Version, first.Revision)
	})

	p, err := layout.FromPath(first.Layout)
	if err != nil {
		t.Fatal(err)
	}
	top, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	topManifest, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	wantCreated := first.Created.Format(time.RFC3339)
	if out, err := exec.Command("git", "log", "-1", "--format=%cI", first.Revision).Output(); err != nil {
		t.Fatal(err)
	} else if got, _ := time.Parse(time.RFC3339, strings.TrimSpace(string(out))); !got.Equal(first.Created) {
		t.Errorf("created %s, the commit's time is %s", first.Created, got)
	}

	var idx v1.ImageIndex
	var sboms []v1.Descriptor
	for _, d := range topManifest.Manifests {
		switch {
		case d.MediaType == "application/vnd.oci.image.index.v1+json":
			if d.Annotations["org.opencontainers.image.ref.name"] != first.Version {
				t.Errorf("index.json names the image %q, want the version %q", d.Annotations["org.opencontainers.image.ref.name"], first.Version)
			}
			if idx, err = top.ImageIndex(d.Digest); err != nil {
				t.Fatal(err)
			}
			if d.Digest.String() != first.Digest {
				t.Errorf("layout holds index %s, build said %s", d.Digest, first.Digest)
			}
		case d.ArtifactType == spdxJSON:
			sboms = append(sboms, d)
		default:
			t.Errorf("unexpected entry in index.json: %+v", d)
		}
	}
	if idx == nil {
		t.Fatal("no image index in the layout")
	}

	t.Run("the layout is valid", func(t *testing.T) {
		if err := validate.Index(idx); err != nil {
			t.Error(err)
		}
		for _, name := range []string{"oci-layout", "index.json"} {
			if _, err := os.Stat(filepath.Join(first.Layout, name)); err != nil {
				t.Error(err)
			}
		}
	})

	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var platforms []string
	images := map[string]v1.Image{}
	for _, d := range im.Manifests {
		platforms = append(platforms, d.Platform.OS+"/"+d.Platform.Architecture)
		if images[d.Platform.Architecture], err = idx.Image(d.Digest); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(platforms, defaultPlatforms) {
		t.Fatalf("platforms %v, want %v", platforms, defaultPlatforms)
	}
	for k, v := range map[string]string{"org.opencontainers.image.revision": first.Revision, "org.opencontainers.image.created": wantCreated} {
		if im.Annotations[k] != v {
			t.Errorf("index annotation %s = %q, want %q", k, im.Annotations[k], v)
		}
	}

	for arch, img := range images {
		t.Run(arch+" config and files", func(t *testing.T) {
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cf.Architecture != arch || cf.OS != "linux" {
				t.Errorf("config says %s/%s", cf.OS, cf.Architecture)
			}
			if cf.Config.User != "65532:65532" || !slices.Equal(cf.Config.Entrypoint, []string{"/nodewatch"}) || len(cf.Config.Cmd) != 0 {
				t.Errorf("user %q entrypoint %q cmd %q, want 65532:65532, [/nodewatch], none", cf.Config.User, cf.Config.Entrypoint, cf.Config.Cmd)
			}
			if !cf.Created.Equal(first.Created) {
				t.Errorf("created %s, want the commit's %s", cf.Created, first.Created)
			}
			want := map[string]string{
				"org.opencontainers.image.source":   "https://github.com/nodewatch/nodewatch",
				"org.opencontainers.image.version":  first.Version,
				"org.opencontainers.image.revision": first.Revision,
				"org.opencontainers.image.licenses": "Apache-2.0",
				"org.opencontainers.image.created":  wantCreated,
			}
			for k, v := range want {
				if cf.Config.Labels[k] != v {
					t.Errorf("label %s = %q, want %q", k, cf.Config.Labels[k], v)
				}
			}
			files := layerFiles(t, img)
			var names []string
			for name := range files {
				names = append(names, name)
			}
			slices.Sort(names)
			wantNames := []string{"etc/", "etc/group", "etc/passwd", "etc/ssl/", "etc/ssl/certs/", "etc/ssl/certs/ca-certificates.crt",
				"home/", "home/nonroot/", "nodewatch", "tmp/"}
			if !slices.Equal(names, wantNames) {
				t.Errorf("files %v, want %v (no shell, nothing else)", names, wantNames)
			}
			if ca, _ := os.ReadFile("/etc/ssl/certs/ca-certificates.crt"); !bytes.Equal(files["etc/ssl/certs/ca-certificates.crt"], ca) {
				t.Error("the CA bundle is not the build machine's")
			}
		})
	}

	t.Run("an SBOM per platform, attached to its image", func(t *testing.T) {
		if len(sboms) != len(images) {
			t.Fatalf("%d SBOMs for %d images", len(sboms), len(images))
		}
		for _, d := range sboms {
			raw, err := os.ReadFile(filepath.Join(first.Layout, "blobs", d.Digest.Algorithm, d.Digest.Hex))
			if err != nil {
				t.Fatal(err)
			}
			var m v1.Manifest
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			if m.Subject == nil || len(m.Layers) != 1 || m.Layers[0].MediaType != spdxJSON {
				t.Fatalf("SBOM manifest %s", raw)
			}
			var subject string
			for arch, img := range images {
				if dg, _ := img.Digest(); dg == m.Subject.Digest {
					subject = arch
				}
			}
			if subject == "" {
				t.Errorf("SBOM %s's subject %s is none of the images", d.Digest, m.Subject.Digest)
			}
			docRaw, err := os.ReadFile(filepath.Join(first.Layout, "blobs", "sha256", m.Layers[0].Digest.Hex))
			if err != nil {
				t.Fatal(err)
			}
			var doc spdxDoc
			if err := json.Unmarshal(docRaw, &doc); err != nil {
				t.Fatal(err)
			}
			var mods []string
			for _, p := range doc.Packages {
				mods = append(mods, p.Name+"@"+p.VersionInfo)
			}
			if doc.SPDXVersion != "SPDX-2.3" || !slices.Contains(mods, "k8s.io/client-go@v0.37.2") || !slices.Contains(mods, "github.com/nodewatch/nodewatch@"+first.Version) {
				t.Errorf("%s SBOM: %s with %v", subject, doc.SPDXVersion, mods)
			}
			if !strings.Contains(doc.Name, "linux/"+subject) {
				t.Errorf("SBOM %q is attached to the %s image", doc.Name, subject)
			}
		}
	})

	wantVersion := "nodewatch " + first.Version + " (commit " + first.Revision + ", clean; client-go v0.37.2, "
	t.Run("the amd64 binary runs and names its commit", func(t *testing.T) {
		exe := filepath.Join(t.TempDir(), "nodewatch")
		if err := os.WriteFile(exe, layerFiles(t, images["amd64"])["nodewatch"], 0o755); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(exe, "version").CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), wantVersion) {
			t.Errorf("nodewatch version: %v\n%s\nwant %s...", err, out, wantVersion)
		}
	})

	t.Run("podman loads and runs it", func(t *testing.T) {
		if _, err := exec.LookPath("podman"); err != nil {
			testenv.Missing(t, "NODEWATCH_REQUIRE_PODMAN", "podman is not installed (make podman installs it)")
		}
		podmanRun(t, first, wantVersion)
	})
}

// podmanRun loads the tar into podman's store and runs `nodewatch version`
// in a container of it, as root, without a network.
//
// `podman pull oci-archive:TAR:VERSION`, not `podman load -i TAR`: load
// takes an archive whose index.json has one entry, and the SBOMs are entries
// beside the image index. What this machine kind needs (see the report of
// #18): crun 1.8 refuses its hybrid cgroup mounts ("cgroups in hybrid mode
// not supported"), so runc is used where installed; and root here lacks
// CAP_SYS_RESOURCE, so the ulimits podman sets by default (nofile 1048576)
// cannot be raised to: they are set to values under the current ones.
func podmanRun(t *testing.T, res result, wantVersion string) {
	ref := "localhost/nodewatch:" + res.Version
	var runtime []string
	if p, err := exec.LookPath("runc"); err == nil {
		runtime = []string{"--runtime", p}
	}
	out, err := exec.Command("podman", "pull", "oci-archive:"+res.Tarball+":"+res.Version).CombinedOutput()
	if err != nil {
		t.Fatalf("podman pull oci-archive: %v\n%s", err, out)
	}
	id := strings.TrimSpace(string(out[bytes.LastIndexByte(bytes.TrimSpace(out), '\n')+1:]))
	t.Cleanup(func() { _ = exec.Command("podman", "rmi", "--force", id).Run() })
	if out, err := exec.Command("podman", "tag", id, ref).CombinedOutput(); err != nil {
		t.Fatalf("podman tag: %v\n%s", err, out)
	}
	args := append(runtime, "run", "--rm", "--network=none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", ref, "version")
	out, err = exec.Command("podman", args...).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), wantVersion) {
		t.Errorf("podman run %s version: %v\n%s\nwant %s...", ref, err, out, wantVersion)
	}
	out, err = exec.Command("podman", "image", "inspect", "--format", "{{.Config.User}} {{.Config.Entrypoint}}", ref).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "65532:65532 [/nodewatch]" {
		t.Errorf("podman image inspect: %v %q", err, out)
	}
}

// layerFiles reads the image's one layer: name → content.
func layerFiles(t *testing.T, img v1.Image) map[string][]byte {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %v (%d)", err, len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }() // a read of a blob in memory or on local disk: nothing to report
	files := map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = b
	}
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}
