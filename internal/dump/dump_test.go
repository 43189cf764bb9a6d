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
	f.Add([]byte(policyDump))
	f.Add([]byte(policyDump[:len(policyDump)*2/3]))
	f.Add([]byte(`{"kind":"NamespaceList","items":[{"metadata":{"name":"x"},"status":{"phase":"Terminating"}}]}{"kind":"NodeList","items":[{"metadata":{"name":"a"}}]}`))
	f.Add([]byte(`{"kind":"LimitRangeList","items":[{"metadata":{"name":"l","namespace":"x"},"spec":{"limits":[{"type":"Container","max":{"memory":"1e400","cpu":"-1"},"min":{"cpu":"0.0001m"}}]}}]}{"kind":"NodeList","items":[{"metadata":{"name":"a"}}]}`))
	f.Add([]byte(`{"kind":"ResourceQuotaList","items":[{"metadata":{"name":"q","namespace":"x"},"spec":{"hard":{"memory":"9223372036854775807Ei","limits.memory":""}}}]}`))
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

// policyDump is what `kubectl get nodes,pods,namespaces,limitranges,resourcequotas -A -o json`
// writes, cut down: one LimitRange relying on the API server's defaulting
// (a max and no default), one quota.
const policyDump = `{"kind":"List","apiVersion":"v1","items":[
{"kind":"Node","metadata":{"name":"a"},"status":{"allocatable":{"memory":"4Gi"}}},
{"kind":"Namespace","metadata":{"name":"batch"},"status":{"phase":"Active"}},
{"kind":"LimitRange","metadata":{"name":"mem","namespace":"batch"},"spec":{"limits":[
  {"type":"Pod","max":{"memory":"8Gi"}},
  {"type":"Container","max":{"memory":"1Gi"},"min":{"cpu":"50m"}}]}},
{"kind":"ResourceQuota","metadata":{"name":"q","namespace":"batch"},"spec":{"hard":{"pods":"10","limits.memory":"16Gi","requests.memory":"8Gi","count/jobs.batch":"5"}}}]}`

func TestReadPolicies(t *testing.T) {
	s, err := Read(strings.NewReader(policyDump), "in.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Namespaces) != 1 || s.Namespaces[0].Name != "batch" || s.Namespaces[0].Phase != "Active" {
		t.Errorf("namespaces %+v", s.Namespaces)
	}
	if len(s.LimitRanges) != 1 {
		t.Fatalf("limit ranges %+v", s.LimitRanges)
	}
	lr := s.LimitRanges[0]
	// The API server's defaulting: default limit ← max, default request ← default limit (memory) or min (cpu).
	if lr.Namespace != "batch" || lr.Default.Memory == nil || *lr.Default.Memory != 1<<30 ||
		lr.DefaultRequest.Memory == nil || *lr.DefaultRequest.Memory != 1<<30 ||
		lr.DefaultRequest.MilliCPU == nil || *lr.DefaultRequest.MilliCPU != 50 || lr.Default.MilliCPU != nil {
		t.Errorf("limit range %+v: want default memory 1Gi (from max), default requests memory 1Gi and cpu 50m (from min)", lr)
	}
	if len(s.Quotas) != 1 || s.Quotas[0].LimitsMemory == nil || *s.Quotas[0].LimitsMemory != 16<<30 ||
		s.Quotas[0].RequestsMemory == nil || *s.Quotas[0].RequestsMemory != 8<<30 {
		t.Errorf("quotas %+v", s.Quotas)
	}
	if !s.Listed.Namespaces || !s.Listed.LimitRanges || !s.Listed.ResourceQuotas {
		t.Errorf("listed %+v, want all three", s.Listed)
	}
}

func TestReadListed(t *testing.T) {
	node := `{"kind":"NodeList","items":[{"metadata":{"name":"a"}}]}`
	cases := []struct {
		name string
		in   string
		want string // which kinds count as read: n(amespaces) l(imitranges) q(uotas)
	}{
		{"nodes and pods only", node, ""},
		{"empty kind-specific lists", node + `{"kind":"LimitRangeList","items":[]}{"kind":"ResourceQuotaList","items":null}`, "lq"},
		{"items of kind-specific lists carry no kind", node + `{"kind":"LimitRangeList","items":[{"metadata":{"name":"l","namespace":"x"},"spec":{"limits":[]}}]}`, "l"},
		{"namespaces imply the rest", `{"kind":"List","items":[{"kind":"Node","metadata":{"name":"a"}},{"kind":"Namespace","metadata":{"name":"x"}}]}`, "nlq"},
		{"a quota in a List", `{"kind":"List","items":[{"kind":"Node","metadata":{"name":"a"}},{"kind":"ResourceQuota","metadata":{"name":"q","namespace":"x"},"spec":{"hard":{}}}]}`, "q"},
		{"shape-guessed limit range", `{"kind":"List","items":[{"metadata":{"name":"a"},"status":{"nodeInfo":{}}},{"metadata":{"name":"l","namespace":"x"},"spec":{"limits":[]}}]}`, "l"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Read(strings.NewReader(tc.in), "in.json")
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			for _, k := range []struct {
				on bool
				c  string
			}{{s.Listed.Namespaces, "n"}, {s.Listed.LimitRanges, "l"}, {s.Listed.ResourceQuotas, "q"}} {
				if k.on {
					got += k.c
				}
			}
			if got != tc.want {
				t.Errorf("listed %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReadPolicyErrors(t *testing.T) {
	node := `{"kind":"Node","metadata":{"name":"a"}}`
	cases := []struct{ name, in, want string }{
		{"bad default", `{"kind":"List","items":[` + node + `,{"kind":"LimitRange","metadata":{"name":"l","namespace":"x"},"spec":{"limits":[{"type":"Container","default":{"memory":"lots"}}]}}]}`,
			`items[1] LimitRange x/l: spec.limits[0].default.memory: "lots" is not a quantity`},
		{"bad quota", `{"kind":"List","items":[` + node + `,{"kind":"ResourceQuota","metadata":{"name":"q","namespace":"x"},"spec":{"hard":{"limits.memory":"1Q"}}}]}`,
			`items[1] ResourceQuota x/q: spec.hard.limits.memory: "1Q" is not a quantity`},
		{"limits not an array", `{"kind":"LimitRangeList","items":[{"metadata":{"name":"l","namespace":"x"},"spec":{"limits":{}}}]}`, "json: cannot unmarshal object"},
		{"limit range without namespace", `{"kind":"List","items":[` + node + `,{"kind":"LimitRange","metadata":{"name":"l"}}]}`, "LimitRange needs metadata.name and metadata.namespace"},
		{"namespace without name", `{"kind":"NamespaceList","items":[{"metadata":{}}]}`, "namespace without metadata.name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tc.in), "in.json")
			var de *Error
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &de) {
				t.Fatalf("error %v, want a *Error containing %q", err, tc.want)
			}
		})
	}
}
