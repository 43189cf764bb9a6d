package collect

import (
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

const resource = `# HELP container_memory_working_set_bytes [ALPHA] Current working set of the container in bytes
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{container="ue",namespace="emails",pod="ue-1"} 4.156e+09 1732881600000
container_memory_working_set_bytes{container="web",namespace="web",pod="web-1"} 2.68435456e+08
# TYPE node_memory_working_set_bytes gauge
node_memory_working_set_bytes 5.5e+09 1732881600000
# TYPE scrape_error gauge
scrape_error 0
`

func TestParse(t *testing.T) {
	node := labels.FromStrings("node", "n1")
	got, rej, err := Parse([]byte(resource), nil, node, 42)
	if err != nil || len(rej) != 0 {
		t.Fatal(err, rej)
	}
	if len(got) != 4 {
		t.Fatalf("%d samples, want 4", len(got))
	}
	s := got[0]
	if s.Labels.Get("__name__") != "container_memory_working_set_bytes" || s.Labels.Get("pod") != "ue-1" || s.Labels.Get("node") != "n1" ||
		s.V != 4.156e9 {
		t.Errorf("first sample %v", s)
	}
	for _, s := range got {
		if s.T != 42 {
			t.Errorf("%v: stamped %d, want the scrape's time whatever the kubelet's clock says", s.Labels, s.T)
		}
	}
}

func TestParseRejects(t *testing.T) {
	in := "a NaN\nb +Inf\nc -1\nd{x=\"" + strings.Repeat("v", 2000) + "\"} 1\ne 2\n"
	got, rej, err := Parse([]byte(in), nil, labels.EmptyLabels(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Labels.Get("__name__") != "e" {
		t.Errorf("kept %v, want only e", got)
	}
	if rej["nan_or_inf"] != 2 || rej["negative"] != 1 || rej["label_too_long"] != 1 {
		t.Errorf("rejected %v", rej)
	}
}

func TestParseMalformed(t *testing.T) {
	got, _, err := Parse([]byte("ok 1\nbroken{ 2\nafter 3\n"), nil, labels.EmptyLabels(), 0)
	if err == nil || len(got) != 1 {
		t.Errorf("samples %v err %v; want the one before the error, and an error", got, err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(resource))
	f.Add([]byte("x{a=\"b\"} 1 2\n# EOF\n"))
	f.Add([]byte("x NaN\ny -Inf\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, _, _ := Parse(b, nil, labels.FromStrings("node", "n"), 0)
		for _, s := range got {
			if s.Labels.Get("node") != "n" || s.V < 0 {
				t.Fatalf("bad sample %v", s)
			}
		}
	})
}
