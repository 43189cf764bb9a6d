package dump

import (
	"bytes"
	"sync"
	"testing"

	"github.com/nodewatch/nodewatch/internal/dump/dumpgen"
)

// benchDump is a 200-node, 6,000-pod dump (about 68 MB as kubectl prints
// it), generated once per test binary.
var benchDump = sync.OnceValues(func() ([]byte, dumpgen.Stats) {
	var b bytes.Buffer
	s, err := dumpgen.Write(&b, dumpgen.Config{Nodes: 200, Pods: 6000, Seed: 1})
	if err != nil {
		panic(err)
	}
	return b.Bytes(), s
})

// BenchmarkRead measures decoding a kubectl dump into a snapshot; MB/s is
// over the dump's bytes, indentation included, as `check -f` reads them.
//
//	go test ./internal/dump -run '^$' -bench '^BenchmarkRead$' -benchmem -count 6
func BenchmarkRead(b *testing.B) {
	in, want := benchDump()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		s, err := Read(bytes.NewReader(in), "dump.json")
		if err != nil {
			b.Fatal(err)
		}
		if len(s.Nodes) != want.Nodes || len(s.Pods) != want.Pods {
			b.Fatalf("read %d nodes, %d pods; want %d, %d", len(s.Nodes), len(s.Pods), want.Nodes, want.Pods)
		}
	}
}
