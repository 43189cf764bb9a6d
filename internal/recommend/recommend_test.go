package recommend

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"

	"github.com/nodewatch/nodewatch/internal/cluster"
)

const mi = 1 << 20

func TestCounterConversions(t *testing.T) {
	at := func(s int) time.Time { return time.Unix(int64(s), 0) }
	p := func(s int, v float64) promql.FPoint { return promql.FPoint{T: at(s).UnixMilli(), F: v} }
	cpu := []promql.FPoint{p(0, 10), p(30, 13), p(60, 1.5), p(90, 4.5)}
	rates, resets := counterRates(cpu)
	if len(rates) != 2 || rates[0].V != 0.1 || rates[1].V != 0.1 || !rates[1].T.Equal(at(90)) {
		t.Errorf("rates %+v, want 0.1 cores at 30 s and 90 s (none across the reset)", rates)
	}
	if len(resets) != 1 || !resets[0].Equal(at(60)) {
		t.Errorf("resets %v, want the counter going backwards at 60 s", resets)
	}
	ooms := counterRises([]promql.FPoint{p(0, 2), p(30, 2), p(60, 4), p(90, 1)})
	if len(ooms) != 3 || !ooms[0].Equal(at(60)) || !ooms[1].Equal(at(60)) || !ooms[2].Equal(at(90)) {
		t.Errorf("OOM kills %v, want two at 60 s and one after the reset at 90 s (none for the 2 before the window)", ooms)
	}
}

func TestGuessOwner(t *testing.T) {
	known := []cluster.Owner{{Kind: "Deployment", Name: "web"}, {Kind: "Deployment", Name: "web-api"}, {Kind: "StatefulSet", Name: "db"},
		{Kind: "CronJob", Name: "report"}, {Kind: "DaemonSet", Name: "agent"}, {Kind: "Pod", Name: "debug"}}
	for pod, want := range map[string]string{
		"web-7d4b9c-abcde":      "Deployment/web",
		"web-api-5f6d8b-kx2mq":  "Deployment/web-api",
		"db-12":                 "StatefulSet/db",
		"report-29400000-x7k2p": "CronJob/report",
		"agent-k2x9q":           "DaemonSet/agent",
		"agent-k2x9q-extra":     "",
		"debug-abcde":           "",
		"webhook-7d4b9c-abcde":  "",
	} {
		o, ok := guessOwner(pod, known)
		if got := map[bool]string{true: o.Kind + "/" + o.Name}[ok]; got != want {
			t.Errorf("%s: %q, want %q", pod, got, want)
		}
	}
}

func TestPatchFor(t *testing.T) {
	sized := func(name string, sidecar bool, cpuLimit *int64) Container {
		return Container{Name: name, Sidecar: sidecar, Status: StatusSized,
			Recommended: &Resources{MemoryRequest: ptr(int64(256 * mi)), MemoryLimit: ptr(int64(1536 * mi)), CPURequest: ptr(int64(250)), CPULimit: cpuLimit}}
	}
	leak := Container{Name: "leaky", Status: StatusLeak, Note: leakNote}
	cases := []struct {
		name string
		w    Workload
		want string
		why  string
	}{
		{"deployment with a sidecar and a leak", Workload{Kind: "Deployment", Containers: []Container{sized("app", false, nil), sized("proxy", true, nil), leak}},
			`{"spec":{"template":{"spec":{"containers":[{"name":"app","resources":{"limits":{"memory":"1536Mi"},"requests":{"cpu":"250m","memory":"256Mi"}}}],"initContainers":[{"name":"proxy","resources":{"limits":{"memory":"1536Mi"},"requests":{"cpu":"250m","memory":"256Mi"}}}]}}}}`, ""},
		{"cronjob with a CPU limit", Workload{Kind: "CronJob", Containers: []Container{sized("report", false, ptr(int64(1500)))}},
			`{"spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"report","resources":{"limits":{"cpu":"1500m","memory":"1536Mi"},"requests":{"cpu":"250m","memory":"256Mi"}}}]}}}}}}`, ""},
		{"only a leak", Workload{Kind: "Deployment", Containers: []Container{leak}}, "", "leaky: leak: fix the leak first"},
		{"a Job", Workload{Kind: "Job", Containers: []Container{sized("x", false, nil)}}, "", "a Job's pod template cannot be changed"},
		{"a bare pod", Workload{Kind: "Pod", Containers: []Container{sized("x", false, nil)}}, "", "a bare pod's resources cannot be patched"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, why := PatchFor(tc.w)
			if string(b) != tc.want || !strings.Contains(why, tc.why) {
				t.Errorf("patch %s (%q), want %s (%q)", b, why, tc.want, tc.why)
			}
		})
	}
	if got := shellQuote(`it's`); got != `'it'\''s'` {
		t.Errorf("shellQuote: %s", got)
	}
}

// TestRecommendOptions: bad options are refused before any query, each
// named; Sizing lowers the leak check's needs with the sizing's.
func TestRecommendOptions(t *testing.T) {
	_, err := Recommend(t.Context(), nil, cluster.NewSnapshot(), Options{Resolution: "1m"})
	if err == nil || !strings.Contains(err.Error(), "since must be positive") || !strings.Contains(err.Error(), `resolution "1m"`) {
		t.Errorf("bad options: %v", err)
	}
	o, err := Sizing(2*time.Minute, 40, true)
	if err != nil || o.MinSpan != 2*time.Minute || o.MinSamples != 40 || !o.CPULimit || o.Leak.MinSpan > 2*time.Minute || o.Leak.SpikeWindow > 30*time.Second {
		t.Errorf("Sizing(2m, 40, true) = %+v, %v", o, err)
	}
	if _, err := Sizing(30*24*time.Hour, 20, false); err == nil {
		t.Error("a minimum history beyond the full span is accepted")
	}
}
