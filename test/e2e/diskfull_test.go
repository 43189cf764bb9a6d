package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/internal/incident"
	"github.com/nodewatch/nodewatch/internal/simcluster"
)

// TestHistoryDiskFull: the data dir on a disk that fills up (a small tmpfs,
// filled with a file). nodewatch stops writing its history and raises
// HistoryWriteFailing, keeps running and answering queries with what it
// stored; once there is room again, writes resume and the alert resolves.
func TestHistoryDiskFull(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	dataDir := t.TempDir()
	// Mounting needs root (CAP_SYS_ADMIN), which CI has: it installs
	// Chromium with apt. Without it this test fails rather than skip.
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=48m", "nodewatch-e2e-full", dataDir).CombinedOutput(); err != nil {
		t.Fatalf("mounting a 48 MiB tmpfs to fill (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dataDir).Run() })

	c, _ := usageCluster(t, ctx, simcluster.Options{}, 1, simcluster.NodeSize{})
	deploy(t, ctx, c, simcluster.Workload{Namespace: "web", Name: "steady", Replicas: 2, Annotations: map[string]string{simcluster.AnnotationMemory: "200Mi"}})
	d := startDaemon(t, c.Kubeconfig, dataDir, nil, "--scrape-interval", "1s", "--scrape-timeout", "1s", "--kubelet-insecure-tls", "--min-free-bytes", "8388608")

	const stored = `count(count_over_time(container_memory_working_set_bytes{pod=~"steady-.*"}[1h]))`
	samples := func() float64 {
		return promQuery(t, d.addr, `sum(count_over_time(container_memory_working_set_bytes{pod=~"steady-.*"}[1h]))`, "")[""]
	}
	waitFor(t, ctx, 60*time.Second, "the steady pods in the history", func() bool { return promQuery(t, d.addr, stored, "")[""] == 2 })

	// Fill the disk to 2 MiB short of full: below --min-free-bytes (8 MiB)
	// history writes pause, while the incident store still has room to
	// keep the alert.
	var st syscall.Statfs_t
	if err := syscall.Statfs(dataDir, &st); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(dataDir, "filler")
	free := int64(st.Bavail) * int64(st.Bsize) //nolint:gosec // a free-space figure, far below 2^63
	if err := os.WriteFile(filler, make([]byte, free-2<<20), 0o600); err != nil {
		t.Fatalf("filling the disk: %v", err)
	}
	failing := func() (open, resolved bool) {
		r := nodewatch(t, ctx, nil, nil, "incidents", "-o", "json", "--nodewatch-url", "http://"+d.addr)
		var incs []incident.Incident
		if err := json.Unmarshal([]byte(r.stdout), &incs); err != nil {
			t.Fatalf("incidents -o json: %v\n%s%s", err, r.stdout, r.stderr)
		}
		for _, i := range incs {
			if i.Rule == "HistoryWriteFailing" {
				return i.Status != incident.Resolved, i.Status == incident.Resolved
			}
		}
		return false, false
	}
	waitFor(t, ctx, 60*time.Second, "a HistoryWriteFailing incident", func() bool { open, _ := failing(); return open })
	// Still running, still answering from what it stored.
	before := samples()
	if v := promQuery(t, d.addr, `max_over_time(container_memory_working_set_bytes{pod=~"steady-.*"}[1h])`, "pod"); len(v) != 2 {
		t.Errorf("queries on a full disk: %v", v)
	}
	time.Sleep(3 * time.Second)
	if after := samples(); after != before {
		t.Errorf("samples still stored on a full disk: %v → %v", before, after)
	}
	if !strings.Contains(d.log(), "history writes pause below 8.0 MiB") {
		t.Errorf("the log does not say why history writes stopped:\n%s", tail([]byte(d.log()), 3000))
	}

	// Room again: writes resume, the alert resolves.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, 60*time.Second, "HistoryWriteFailing resolved", func() bool { _, resolved := failing(); return resolved })
	grown := samples()
	waitFor(t, ctx, 30*time.Second, "new samples after the disk has room", func() bool { return samples() >= grown+4 })
	select {
	case <-d.done:
		t.Fatalf("nodewatch exited:\n%s", tail([]byte(d.log()), 4000))
	default:
	}
}
