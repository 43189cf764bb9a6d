package dumpgen_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/internal/dump"
	"github.com/nodewatch/nodewatch/internal/dump/dumpgen"
	"github.com/nodewatch/nodewatch/internal/health"
)

func generate(t *testing.T, c dumpgen.Config) ([]byte, dumpgen.Stats) {
	t.Helper()
	var b bytes.Buffer
	s, err := dumpgen.Write(&b, c)
	if err != nil {
		t.Fatal(err)
	}
	if s.Bytes != int64(b.Len()) {
		t.Errorf("Stats.Bytes = %d, wrote %d", s.Bytes, b.Len())
	}
	return b.Bytes(), s
}

// The dump is byte for byte what kubectl prints for unstructured objects:
// keys sorted, 4-space indentation, a List with an empty resourceVersion.
func TestWriteIsKubectlJSON(t *testing.T) {
	out, _ := generate(t, dumpgen.Config{Nodes: 5, Pods: 80, Seed: 1})
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	again, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(again, '\n'), out) {
		t.Error("output is not kubectl's formatting (json.MarshalIndent with 4 spaces, sorted keys, final newline)")
	}
	if !strings.HasPrefix(string(out), "{\n    \"apiVersion\": \"v1\",\n    \"items\": [\n        {\n            \"apiVersion\": \"v1\",\n            \"kind\": \"Node\",") {
		t.Errorf("unexpected start: %.120q", out)
	}
}

func TestWriteIsDeterministic(t *testing.T) {
	a, _ := generate(t, dumpgen.Config{Nodes: 10, Pods: 200, Seed: 7})
	b, _ := generate(t, dumpgen.Config{Nodes: 10, Pods: 200, Seed: 7})
	c, _ := generate(t, dumpgen.Config{Nodes: 10, Pods: 200, Seed: 8})
	if !bytes.Equal(a, b) {
		t.Error("the same seed wrote different dumps")
	}
	if bytes.Equal(a, c) {
		t.Error("different seeds wrote the same dump")
	}
}

// Stats must be what nodewatch check finds, read the way check -f reads.
func TestStatsAreWhatCheckFinds(t *testing.T) {
	for _, c := range []dumpgen.Config{
		{Nodes: 1, Pods: 0, Seed: 1},
		{Nodes: 3, Pods: 10, Seed: 2},
		{Nodes: 100, Pods: 1000, Seed: 1},
		{Nodes: 500, Pods: 600, Seed: 3},
	} {
		out, s := generate(t, c)
		snap, err := dump.Read(bytes.NewReader(out), "dump.json")
		if err != nil {
			t.Fatal(err)
		}
		r := health.Evaluate(snap, health.Options{}, dumpgen.DefaultNow)
		var down, onDown, cordoned int
		for _, n := range r.Nodes {
			if n.Ready != "True" {
				down++
				onDown += len(n.Pods)
				if n.Reason != "NodeStatusUnknown" {
					t.Errorf("node %s: reason %q, want NodeStatusUnknown", n.Name, n.Reason)
				}
			} else if len(n.Problems) == 1 && n.Problems[0] == health.Cordoned {
				cordoned++
			}
		}
		got := dumpgen.Stats{Nodes: r.NodeCount, Pods: r.PodCount, NotReadyNodes: down, PodsOnNotReady: onDown,
			CordonedNodes: cordoned, Unschedulable: len(r.Unschedulable), Bytes: s.Bytes}
		if got != s {
			t.Errorf("%+v: check found %+v, generator says %+v", c, got, s)
		}
		if c.Nodes >= 50 && (down == 0 || down > c.Nodes*3/100) {
			t.Errorf("%+v: %d nodes not Ready, want about 2%%", c, down)
		}
		if c.Pods > 0 && s.Unschedulable == 0 {
			t.Errorf("%+v: no unschedulable pod", c)
		}
	}
}

// Pods are as big as real ones (4–6 KB as the API server sends them) and
// owned as real ones are.
func TestPodsLookReal(t *testing.T) {
	out, _ := generate(t, dumpgen.Config{Nodes: 30, Pods: 600, Seed: 1})
	var list struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatal(err)
	}
	var pods, size int
	owners := map[string]int{}
	for _, raw := range list.Items {
		var it struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Labels          map[string]string `json:"labels"`
				Annotations     map[string]string `json:"annotations"`
				OwnerReferences []struct{ Kind string }
			} `json:"metadata"`
			Status struct {
				StartTime string `json:"startTime"`
			} `json:"status"`
		}
		if err := json.Unmarshal(raw, &it); err != nil {
			t.Fatal(err)
		}
		if it.Kind != "Pod" {
			continue
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, raw); err != nil {
			t.Fatal(err)
		}
		pods++
		size += compact.Len()
		kind := "none"
		if len(it.Metadata.OwnerReferences) > 0 {
			kind = it.Metadata.OwnerReferences[0].Kind
		}
		owners[kind]++
		if kind == "ReplicaSet" && it.Metadata.Labels["pod-template-hash"] == "" {
			t.Error("a ReplicaSet's pod without pod-template-hash")
		}
		if it.Metadata.Annotations["kubectl.kubernetes.io/last-applied-configuration"] == "" {
			t.Error("a pod without last-applied-configuration")
		}
	}
	if avg := size / pods; avg < 4000 || avg > 6000 {
		t.Errorf("pods average %d bytes as compact JSON, want 4–6 KB", avg)
	}
	for _, k := range []string{"ReplicaSet", "StatefulSet", "DaemonSet", "Job", "ReplicationController", "none"} {
		if owners[k] == 0 {
			t.Errorf("no pod owned by a %s (owners: %v)", k, owners)
		}
	}
	if owners["ReplicaSet"] < pods/2 {
		t.Errorf("owners %v: want most pods from Deployments", owners)
	}
}

func TestWriteRejectsNoNodes(t *testing.T) {
	if _, err := dumpgen.Write(&bytes.Buffer{}, dumpgen.Config{Nodes: 0, Pods: 10, Now: time.Now()}); err == nil {
		t.Error("no error for a dump without nodes")
	}
}
