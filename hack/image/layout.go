package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's user: distroless' nonroot, which deploy/nodewatch.yaml and the
// chart run as too.
const (
	uid  = 65532
	user = "65532:65532"
)

// metadata is what every platform's image shares.
type metadata struct {
	Source, Version, Revision string
	Created                   time.Time
	CA                        []byte
}

// labels are the OCI annotation keys, on the images' configs and the index.
func (m metadata) labels() map[string]string {
	return map[string]string{
		"org.opencontainers.image.source":   m.Source,
		"org.opencontainers.image.version":  m.Version,
		"org.opencontainers.image.revision": m.Revision,
		"org.opencontainers.image.licenses": "Apache-2.0",
		"org.opencontainers.image.created":  m.Created.Format(time.RFC3339),
		"org.opencontainers.image.title":    "nodewatch",
	}
}

// binary is one platform's nodewatch.
type binary struct {
	OS, Arch, Path string
}

func (b binary) platform() *v1.Platform {
	p := &v1.Platform{OS: b.OS, Architecture: b.Arch}
	if b.Arch == "arm64" {
		p.Variant = "v8"
	}
	return p
}

// Media type of an SBOM artifact's manifest and its one blob.
const spdxJSON = "application/spdx+json"

// writeLayout writes the layout at dir: the index of every platform's image
// (named by the version), and each image's SBOM as an artifact manifest whose
// subject is that image. It returns the index's digest.
func writeLayout(dir string, m metadata, bins []binary) (string, error) {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	type sbom struct {
		image v1.Image
		doc   []byte
	}
	var sboms []sbom
	for _, b := range bins {
		img, err := platformImage(m, b)
		if err != nil {
			return "", fmt.Errorf("%s/%s: %w", b.OS, b.Arch, err)
		}
		doc, err := spdxDocument(b, m)
		if err != nil {
			return "", fmt.Errorf("SBOM of %s/%s: %w", b.OS, b.Arch, err)
		}
		sboms = append(sboms, sbom{img, doc})
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: b.platform()},
		})
	}
	idx = mutate.Annotations(idx, m.labels()).(v1.ImageIndex)

	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return "", err
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": m.Version,
	})); err != nil {
		return "", err
	}
	for _, s := range sboms {
		if err := appendSBOM(p, s.image, s.doc, m); err != nil {
			return "", err
		}
	}
	d, err := idx.Digest()
	return d.String(), err
}

// platformImage is one platform's image: one layer, the config.
func platformImage(m metadata, b binary) (v1.Image, error) {
	exe, err := os.ReadFile(b.Path)
	if err != nil {
		return nil, err
	}
	files, err := rootfs(exe, m)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(files)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
	if err != nil {
		return nil, err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   v1.Time{Time: m.Created},
			CreatedBy: "hack/image: /nodewatch, CA certificates, nonroot user",
		},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	p := b.platform()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Created = v1.Time{Time: m.Created}
	cf.Author = ""
	cf.Config = v1.Config{
		User:       user,
		Entrypoint: []string{"/nodewatch"},
		WorkingDir: "/",
		Env:        []string{"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
		Labels:     m.labels(),
	}
	return mutate.ConfigFile(img, cf)
}

// rootfs is the layer's tar: every entry owned by root (the binary is not
// the user's to change), every mtime the commit's.
func rootfs(exe []byte, m metadata) ([]byte, error) {
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", uid, uid)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", uid)
	entries := []struct {
		name string
		mode int64
		dir  bool
		uid  int
		body []byte
	}{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/group", mode: 0o644, body: []byte(group)},
		{name: "etc/passwd", mode: 0o644, body: []byte(passwd)},
		{name: "etc/ssl/", mode: 0o755, dir: true},
		{name: "etc/ssl/certs/", mode: 0o755, dir: true},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, body: m.CA},
		{name: "home/", mode: 0o755, dir: true},
		{name: "home/nonroot/", mode: 0o700, dir: true, uid: uid},
		{name: "nodewatch", mode: 0o755, body: exe},
		{name: "tmp/", mode: 0o1777, dir: true},
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{
			Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: m.Created,
			Typeflag: tar.TypeReg, Size: int64(len(e.body)), Format: tar.FormatPAX,
		}
		if e.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// appendSBOM writes doc as an OCI 1.1 artifact manifest (artifactType SPDX,
// the empty config, doc as its one layer, subject the image) and lists it
// in the layout's index.json, where `oras discover --oci-layout` and other
// referrers-aware tools find it.
func appendSBOM(p layout.Path, img v1.Image, doc []byte, m metadata) error {
	subject, err := descriptorOf(img)
	if err != nil {
		return err
	}
	emptyCfg := []byte("{}")
	cfgDesc, err := writeBlob(p, emptyCfg, types.OCIEmptyJSON)
	if err != nil {
		return err
	}
	docDesc, err := writeBlob(p, doc, spdxJSON)
	if err != nil {
		return err
	}
	docDesc.Annotations = map[string]string{"org.opencontainers.image.title": "sbom.spdx.json"}
	manifest := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  spdxJSON,
		Config:        cfgDesc,
		Layers:        []v1.Descriptor{docDesc},
		Subject:       &subject,
		Annotations:   map[string]string{"org.opencontainers.image.created": m.Created.Format(time.RFC3339)},
	}
	raw, err := json.Marshal(manifest)
	if err != nil {
		return err
	}
	desc, err := writeBlob(p, raw, types.OCIManifestSchema1)
	if err != nil {
		return err
	}
	desc.ArtifactType = spdxJSON
	return p.AppendDescriptor(desc)
}

func descriptorOf(img v1.Image) (v1.Descriptor, error) {
	d, err := img.Digest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	size, err := img.Size()
	if err != nil {
		return v1.Descriptor{}, err
	}
	mt, err := img.MediaType()
	return v1.Descriptor{MediaType: mt, Digest: d, Size: size}, err
}

func writeBlob(p layout.Path, b []byte, mt types.MediaType) (v1.Descriptor, error) {
	sum := sha256.Sum256(b)
	h := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
	if err := p.WriteBlob(h, io.NopCloser(bytes.NewReader(b))); err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: mt, Digest: h, Size: int64(len(b))}, nil
}

// tarDir writes dir's files into a tar at out, in name order, every mtime
// the commit's, so two builds of one commit give the same bytes.
func tarDir(dir, out string, mtime time.Time) error {
	var names []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		names = append(names, path)
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(names)
	f, err := os.Create(out + ".tmp") //nolint:gosec // G304: -out, the operator's directory
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }() // for the error paths; the last write is closed and checked below
	tw := tar.NewWriter(f)
	for _, path := range names {
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		h := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, ModTime: mtime, Format: tar.FormatPAX, Typeflag: tar.TypeReg}
		if fi.IsDir() {
			h.Name, h.Mode, h.Typeflag = h.Name+"/", 0o755, tar.TypeDir
		} else {
			h.Size = fi.Size()
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !fi.IsDir() {
			b, err := os.ReadFile(path) //nolint:gosec // G304: a file of the layout this program just wrote
			if err != nil {
				return err
			}
			if _, err := tw.Write(b); err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(out+".tmp", out)
}
