package main

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"
)

// SPDX 2.3 JSON, the fields this SBOM uses.
type spdxDoc struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreationInfo   `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	Name             string         `json:"name"`
	SPDXID           string         `json:"SPDXID"`
	VersionInfo      string         `json:"versionInfo,omitempty"`
	DownloadLocation string         `json:"downloadLocation"`
	FilesAnalyzed    bool           `json:"filesAnalyzed"`
	LicenseConcluded string         `json:"licenseConcluded"`
	LicenseDeclared  string         `json:"licenseDeclared"`
	CopyrightText    string         `json:"copyrightText"`
	Checksums        []spdxChecksum `json:"checksums,omitempty"`
	ExternalRefs     []spdxRef      `json:"externalRefs,omitempty"`
	Comment          string         `json:"comment,omitempty"`
}

type spdxChecksum struct {
	Algorithm     string `json:"algorithm"`
	ChecksumValue string `json:"checksumValue"`
}

type spdxRef struct {
	ReferenceCategory string `json:"referenceCategory"`
	ReferenceType     string `json:"referenceType"`
	ReferenceLocator  string `json:"referenceLocator"`
}

type spdxRelationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

var notIDChar = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// spdxDocument lists the binary's Go modules as `go version -m` reads them
// (debug/buildinfo): nodewatch itself, the Go standard library and every
// dependency linked in, with its replacement where there is one. Nothing in
// it depends on the build machine or the hour: same binary, same SBOM.
func spdxDocument(b binary, m metadata) ([]byte, error) {
	bi, err := buildinfo.ReadFile(b.Path)
	if err != nil {
		return nil, err
	}
	exe, err := os.ReadFile(b.Path)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(exe)
	platform := b.OS + "/" + b.Arch
	doc := spdxDoc{
		SPDXVersion: "SPDX-2.3",
		DataLicense: "CC0-1.0",
		SPDXID:      "SPDXRef-DOCUMENT",
		Name:        fmt.Sprintf("nodewatch %s %s", m.Version, platform),
		DocumentNamespace: fmt.Sprintf("%s/sbom/%s/%s-%s/%s", strings.TrimSuffix(m.Source, "/"),
			m.Version, b.OS, b.Arch, hex.EncodeToString(sum[:])),
		CreationInfo: spdxCreationInfo{
			Created:  m.Created.UTC().Format(time.RFC3339),
			Creators: []string{"Tool: nodewatch-hack-image", "Organization: nodewatch"},
		},
	}
	pkg := func(id, name, version, comment string) spdxPackage {
		p := spdxPackage{
			Name: name, SPDXID: "SPDXRef-Package-" + notIDChar.ReplaceAllString(id, "-"), VersionInfo: version,
			DownloadLocation: "NOASSERTION", LicenseConcluded: "NOASSERTION", LicenseDeclared: "NOASSERTION",
			CopyrightText: "NOASSERTION", Comment: comment,
		}
		if version != "" && version != "(devel)" {
			p.ExternalRefs = []spdxRef{{"PACKAGE-MANAGER", "purl", "pkg:golang/" + name + "@" + version}}
		}
		return p
	}
	main := pkg("nodewatch", bi.Main.Path, m.Version, "the /nodewatch binary, "+platform)
	main.LicenseDeclared = "Apache-2.0"
	main.DownloadLocation = m.Source
	main.Checksums = []spdxChecksum{{"SHA256", hex.EncodeToString(sum[:])}}
	main.ExternalRefs = []spdxRef{{"PACKAGE-MANAGER", "purl", "pkg:golang/" + bi.Main.Path + "@" + m.Revision}}
	std := pkg("stdlib", "stdlib", bi.GoVersion, "the Go standard library and runtime")
	std.ExternalRefs = []spdxRef{{"PACKAGE-MANAGER", "purl", "pkg:golang/stdlib@" + bi.GoVersion}}
	doc.Packages = append(doc.Packages, main, std)
	doc.Relationships = append(doc.Relationships,
		spdxRelationship{"SPDXRef-DOCUMENT", "DESCRIBES", main.SPDXID},
		spdxRelationship{main.SPDXID, "DEPENDS_ON", std.SPDXID})
	for i, d := range bi.Deps {
		mod, comment := d, ""
		if d.Replace != nil {
			mod = d.Replace
			comment = "replaces " + d.Path + "@" + d.Version
		}
		p := pkg(fmt.Sprintf("%d-%s", i, mod.Path), mod.Path, mod.Version, comment)
		if mod.Sum != "" {
			p.Comment = strings.TrimSpace(p.Comment + " go.sum " + mod.Sum)
		}
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, spdxRelationship{main.SPDXID, "DEPENDS_ON", p.SPDXID})
	}
	return json.MarshalIndent(doc, "", "  ")
}
