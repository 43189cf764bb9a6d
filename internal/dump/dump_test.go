package dump

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestReadShapes(t *testing.T) {
	cases := []struct {
		name        string
		in          string
		nodes, pods int
	}{
		{"kubectl List", `{"apiVersion":"v1","items":[{"kind":"Node","metadata":{"name":"a"}},{"kind":"Pod","metadata":{"name":"p","namespace":"d"},"spec":{"containers":[{"name":"c"}]}}],"kind":"List","metadata":{}}`, 1, 1},
		{"separate lists, no item kinds", `{"kind":"NodeList","items":[{"metadata":{"name":"a"},"status":{}}]}
{"kind":"PodList","items":[{"metadata":{"name":"p","namespace":"d"},"spec":{"containers":[{"name":"c"}]}}]}`, 1, 1},
		{"items before kind, inferred by shape", `{"items":[{"metadata":{"name":"a"},"status":{"nodeInfo":{}}},{"metadata":{"name":"p"},"spec":{"containers":[{"name":"c"}]}}],"kind":"List"}`, 1, 1},
		{"null items then nodes", `{"kind":"PodList","items":null}{"kind":"NodeList","items":[{"metadata":{"name":"a"}}]}`, 1, 0},
		{"other kinds ignored", `{"kind":"List","items":[{"kind":"Service","metadata":{"name":"s"}},{"kind":"Node","metadata":{"name":"a"}}]}`, 1, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Read(strings.NewReader(tc.in), "in.json")
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Nodes) != tc.nodes || len(s.Pods) != tc.pods {
				t.Errorf("got %d nodes %d pods, want %d and %d", len(s.Nodes), len(s.Pods), tc.nodes, tc.pods)
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"empty", ``, "in.json: byte 0: no JSON found"},
		{"not JSON", `hello`, "not valid JSON"},
		{"array", `[1,2]`, "want a JSON object"},
		{"truncated", `{"kind":"List","items":[{"kind":"Node","metadata":{"na`, "truncated"},
		{"not a list", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"}}`, "found a Pod, want a List"},
		{"list of other kind", `{"kind":"ConfigMapList","items":[]}`, "found a ConfigMapList"},
		{"object without kind", `{"items":[]}`, "not a List"},
		{"items not array", `{"kind":"List","items":{}}`, "items must be an array"},
		{"bad quantity", `{"kind":"List","items":[{"kind":"Pod","metadata":{"name":"web-1","namespace":"shop"},"spec":{"containers":[{"name":"c","resources":{"limits":{"memory":"12Xi"}}}]}}]}`,
			`items[0] Pod shop/web-1: spec.containers[0].resources.limits.memory: "12Xi" is not a quantity`},
		{"bad time", `{"kind":"List","items":[{"kind":"Node","metadata":{"name":"n1"},"status":{"conditions":[{"type":"Ready","lastTransitionTime":"yesterday"}]}}]}`,
			`items[0] Node n1: status.conditions[0].lastTransitionTime: "yesterday" is not an RFC 3339 time`},
		{"wrong type", `{"kind":"List","items":[{"kind":"Pod","metadata":{"name":"p"},"status":{"containerStatuses":[{"restartCount":"many"}]}}]}`, "items[0] Pod p: json: cannot unmarshal"},
		{"no name", `{"kind":"List","items":[{"kind":"Node","metadata":{}}]}`, "node without metadata.name"},
		{"pods only", `{"kind":"PodList","items":[]}`, "no Node objects found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tc.in), "in.json")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			var de *Error
			if !errors.As(err, &de) || de.Input != "in.json" {
				t.Errorf("error %T does not name the input", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

// FuzzRead: no input may panic the decoder; every failure is a *Error.
func FuzzRead(f *testing.F) {
	seed, err := os.ReadFile("../cli/testdata/outage.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Add([]byte(`{"kind":"NodeList","items":[{"metadata":{"name":"a"}}]}{"kind":"PodList","items":null}`))
	f.Add([]byte(`{"kind":"List","items":[{"kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"resources":{"limits":{"memory":"1e400"}}}]}}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := Read(bytes.NewReader(in), "fuzz")
		if err != nil {
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if len(s.Nodes) == 0 {
			t.Fatal("success without nodes")
		}
	})
}
