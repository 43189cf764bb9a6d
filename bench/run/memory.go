package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/nodewatch/nodewatch/internal/simcluster"
)

// ---- memory ----

type memResult struct {
	Config     string         `json:"config"`
	Label      string         `json:"label"`
	Nodes      int            `json:"nodes"`
	Pods       int            `json:"pods"`
	Objects    map[string]int `json:"objects"`
	Total      int            `json:"totalObjects"`
	ReadyAfter float64        `json:"readySeconds"`
	RSS        float64        `json:"rssBytesMedian"`
	RSSMax     float64        `json:"rssBytesMax"`
	RSSAnon    float64        `json:"rssAnonBytesMedian"`
	RSSFile    float64        `json:"rssFileBytesMedian"`
	// Mapped is the RSS of each mapping of 1 MB or more, by file.
	Mapped    map[string]float64 `json:"rssByMapping"`
	HWM       float64            `json:"rssPeakBytes"`
	HeapInuse float64            `json:"heapInuseBytesMedian"`
	LiveHeap  float64            `json:"liveHeapBytesMedian"`
	GCs       int                `json:"gcsInWindow"`
	CPU       float64            `json:"cpuCores"`
	PopulateS float64            `json:"populateSeconds"`
	// Scrape cycles (as deployed): how many ran by the end of the window,
	// their mean wall time, and the samples they stored.
	ScrapeCycles  float64 `json:"scrapeCycles"`
	ScrapeMeanS   float64 `json:"scrapeCycleMeanSeconds"`
	ScrapeSamples float64 `json:"historySamplesAppended"`
}

// daemonConfig is one way of running the daemon in the memory scenario.
type daemonConfig struct{ name, args string }

// memoryConfigs: the informers alone (the cache the goal is about),
// and the daemon as deployed, also scraping every kubelet into its history
// every 30 s (kwok's kubelets have self-signed certificates).
var memoryConfigs = []daemonConfig{
	{"informers only (--scrape-interval 0)", "--scrape-interval 0"},
	{"as deployed (scraping every 30s)", "--kubelet-insecure-tls"},
}

func memory(ctx context.Context, o options, c *simcluster.Cluster, bin, work string, env []string) ([]memResult, error) {
	configs := memoryConfigs
	if !o.scrape {
		configs = configs[:1]
	}
	var out []memResult
	step := func(label string, nodes, pods int, took time.Duration) error {
		objs, err := countObjects(ctx, c)
		if err != nil {
			return err
		}
		for _, cfg := range configs {
			r, err := measure(ctx, o, c, bin, work, env, cfg, label, objs)
			if err != nil {
				return err
			}
			r.Nodes, r.Pods, r.PopulateS = nodes, pods, took.Seconds()
			out = append(out, r)
		}
		printMemory(out)
		return nil
	}
	if err := step("empty cluster", 0, 0, 0); err != nil {
		return out, err
	}
	haveNodes, havePods := 0, 0
	for s := 1; s <= o.steps; s++ {
		nodes, pods := o.nodes*s/o.steps, o.pods*s/o.steps
		start := time.Now()
		logf("growing the cluster to %d nodes, %d pods", nodes, pods)
		if err := populate(ctx, o, c, fmt.Sprintf("s%d", s), nodes-haveNodes, pods-havePods, havePods); err != nil {
			return out, err
		}
		took := time.Since(start)
		haveNodes, havePods = nodes, pods
		if err := sleep(ctx, 30*time.Second); err != nil { // controllers' status updates and events settle
			return out, err
		}
		if err := step(fmt.Sprintf("%d nodes, %d pods", nodes, pods), nodes, pods, took); err != nil {
			return out, err
		}
	}
	return out, nil
}

// measured numbers the memory scenario's daemons, for their logs.
var measured int

var reGC = regexp.MustCompile(`^gc \d+ @([\d.]+)s .* (\d+)->(\d+)->(\d+) MB`)

// measure starts a fresh daemon, waits until it is ready and -settle has
// passed, then samples it every 2 s over -window.
func measure(ctx context.Context, o options, c *simcluster.Cluster, bin, work string, env []string,
	cfg daemonConfig, label string, objs map[string]int,
) (memResult, error) {
	r := memResult{Config: cfg.name, Label: label, Objects: objs}
	for _, n := range objs {
		r.Total += n
	}
	measured++
	logPath := filepath.Join(work, fmt.Sprintf("daemon-memory-%d.log", measured))
	dataDir := filepath.Join(work, fmt.Sprintf("data-memory-%d", measured))
	args := append(strings.Fields(cfg.args), strings.Fields(o.daemonArgs)...)
	d, err := startDaemon(bin, c.Kubeconfig, dataDir, logPath, append(slices.Clone(env), "GODEBUG=gctrace=1"), args...)
	if err != nil {
		return r, err
	}
	defer d.stop()
	ready, err := d.waitReady(ctx, 15*time.Minute)
	if err != nil {
		return r, err
	}
	r.ReadyAfter = ready.Seconds()
	logf("%s, %s: daemon ready after %s; settling %s", label, cfg.name, ready.Round(time.Millisecond), o.settle)
	if err := sleep(ctx, o.settle); err != nil {
		return r, err
	}
	pid := d.cmd.Process.Pid
	from, cpu0 := time.Now(), cpuSeconds(pid)
	var rss, anon, file, heap []float64
	for time.Since(from) < o.window {
		if st, err := procStatus(pid); err == nil {
			rss, anon, file = append(rss, st["VmRSS"]), append(anon, st["RssAnon"]), append(file, st["RssFile"])
		}
		if m, err := d.metrics(); err == nil {
			heap = append(heap, m["go_memstats_heap_inuse_bytes"])
		}
		if err := sleep(ctx, 2*time.Second); err != nil {
			return r, err
		}
	}
	r.CPU = (cpuSeconds(pid) - cpu0) / time.Since(from).Seconds()
	if m, err := d.metrics(); err == nil && m["nodewatch_scrape_cycle_seconds_count"] > 0 {
		r.ScrapeCycles = m["nodewatch_scrape_cycle_seconds_count"]
		r.ScrapeMeanS = m["nodewatch_scrape_cycle_seconds_sum"] / r.ScrapeCycles
		r.ScrapeSamples = m["nodewatch_history_samples_appended_total"]
	}
	if st, err := procStatus(pid); err == nil {
		r.HWM = st["VmHWM"]
	}
	r.RSSAnon, r.RSSFile = median(anon), median(file)
	r.Mapped = map[string]float64{}
	for path, v := range mappedFiles(pid) {
		if v >= 1e6 {
			r.Mapped[path] = v
		}
	}
	if len(rss) == 0 || len(heap) == 0 {
		return r, fmt.Errorf("%s: no samples of the daemon's memory", label)
	}
	r.RSS, r.RSSMax, r.HeapInuse = median(rss), slices.Max(rss), median(heap)
	d.stop()
	// Live heap after each GC in the window, from the gctrace lines; if
	// none ran in the window, the last one before it.
	b, _ := os.ReadFile(logPath) //nolint:gosec // G304: the daemon's log this harness wrote
	var live []float64
	last := math.NaN()
	winStart, winEnd := from.Sub(d.started).Seconds(), time.Since(d.started).Seconds()
	for _, line := range strings.Split(string(b), "\n") {
		if m := reGC.FindStringSubmatch(line); m != nil {
			at, _ := strconv.ParseFloat(m[1], 64)
			mb, _ := strconv.ParseFloat(m[4], 64)
			switch {
			case at >= winStart && at <= winEnd:
				live = append(live, mb*(1<<20))
			case at < winStart:
				last = mb * (1 << 20)
			}
		}
	}
	r.GCs = len(live)
	r.LiveHeap = median(live)
	if len(live) == 0 {
		r.LiveHeap = last
	}
	for path, v := range r.Mapped {
		logf("  RSS of %s: %s", path, mb(v))
	}
	logf("%s, %s: RSS %s, heap in use %s, live heap %s (%d GCs in the window), peak RSS %s, CPU %.3f cores", label, cfg.name,
		mb(r.RSS), mb(r.HeapInuse), mb(r.LiveHeap), r.GCs, mb(r.HWM), r.CPU)
	if r.ScrapeCycles > 0 {
		logf("%s, %s: %.0f scrape cycles, %.2f s each on average, %.0f samples stored", label, cfg.name, r.ScrapeCycles, r.ScrapeMeanS, r.ScrapeSamples)
	}
	return r, nil
}

func printMemory(rs []memResult) {
	for _, cfg := range memoryConfigs {
		var mine []memResult
		for _, r := range rs {
			if r.Config == cfg.name {
				mine = append(mine, r)
			}
		}
		if len(mine) == 0 {
			continue
		}
		fmt.Printf("\nnodewatch run — memory, %s: a fresh daemon per scale, settled, then sampled every 2 s\n", cfg.name)
		fmt.Printf("%-24s %8s %7s %9s %9s %9s %9s %9s %9s %4s %9s %6s\n", "scale", "objects", "ready",
			"RSS", "anon", "file", "RSS max", "heap use", "live heap", "GCs", "peak RSS", "CPU")
		for _, r := range mine {
			fmt.Printf("%-24s %8d %6.1fs %9s %9s %9s %9s %9s %9s %4d %9s %6.3f\n", r.Label, r.Total, r.ReadyAfter,
				mb(r.RSS), mb(r.RSSAnon), mb(r.RSSFile), mb(r.RSSMax), mb(r.HeapInuse), mb(r.LiveHeap), r.GCs, mb(r.HWM), r.CPU)
		}
		for _, r := range mine {
			if r.ScrapeCycles > 0 {
				fmt.Printf("  %s: %.0f scrape cycles of every kubelet, %.2f s wall each on average, %.0f samples stored\n",
					r.Label, r.ScrapeCycles, r.ScrapeMeanS, r.ScrapeSamples)
			}
		}
		base := mine[0]
		for _, r := range mine[1:] {
			n := float64(r.Total - base.Total)
			fmt.Printf("  %s: per object over the empty cluster: RSS %.0f B, anon RSS %.0f B, heap in use %.0f B, live heap %.0f B\n",
				r.Label, (r.RSS-base.RSS)/n, (r.RSSAnon-base.RSSAnon)/n, (r.HeapInuse-base.HeapInuse)/n, (r.LiveHeap-base.LiveHeap)/n)
		}
	}
	fmt.Println("RSS = anon + file (file: mapped pages of the binary and the data dir's databases); MB = 10^6 bytes")
	seen := map[string]bool{}
	for _, r := range rs {
		if seen[r.Label] {
			continue
		}
		seen[r.Label] = true
		keys := make([]string, 0, len(r.Objects))
		for k := range r.Objects {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s %d", k, r.Objects[k]))
		}
		fmt.Printf("objects at %s (%d): %s\n", r.Label, r.Total, strings.Join(parts, ", "))
	}
}

// countObjects counts what the daemon's informers cache.
func countObjects(ctx context.Context, c *simcluster.Cluster) (map[string]int, error) {
	cs, err := protobufClient(c)
	if err != nil {
		return nil, err
	}
	all := metav1.ListOptions{ResourceVersion: "0"} // from the watch cache
	lists := map[string]func() (runtime.Object, error){
		"nodes":       func() (runtime.Object, error) { return cs.CoreV1().Nodes().List(ctx, all) },
		"pods":        func() (runtime.Object, error) { return cs.CoreV1().Pods("").List(ctx, all) },
		"leases":      func() (runtime.Object, error) { return cs.CoordinationV1().Leases("kube-node-lease").List(ctx, all) },
		"events":      func() (runtime.Object, error) { return cs.CoreV1().Events("").List(ctx, all) },
		"replicasets": func() (runtime.Object, error) { return cs.AppsV1().ReplicaSets("").List(ctx, all) },
		"deployments": func() (runtime.Object, error) { return cs.AppsV1().Deployments("").List(ctx, all) },
		"replicationcontrollers": func() (runtime.Object, error) {
			return cs.CoreV1().ReplicationControllers("").List(ctx, all)
		},
		"statefulsets": func() (runtime.Object, error) { return cs.AppsV1().StatefulSets("").List(ctx, all) },
		"daemonsets":   func() (runtime.Object, error) { return cs.AppsV1().DaemonSets("").List(ctx, all) },
		"jobs":         func() (runtime.Object, error) { return cs.BatchV1().Jobs("").List(ctx, all) },
	}
	out := map[string]int{}
	for kind, list := range lists {
		l, err := list()
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", kind, err)
		}
		out[kind] = meta.LenList(l)
	}
	return out, nil
}

// protobufClient is an admin clientset speaking protobuf, for big lists.
func protobufClient(c *simcluster.Cluster) (kubernetes.Interface, error) {
	cfg := rest.CopyConfig(c.Config)
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	return kubernetes.NewForConfig(cfg)
}
