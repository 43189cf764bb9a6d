package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ---- the daemon ----

type daemon struct {
	cmd     *exec.Cmd
	addr    string
	logPath string
	started time.Time
	done    chan struct{}
}

func startDaemon(bin, kubeconfig, dataDir, logPath string, env []string, args ...string) (*daemon, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	_ = l.Close()                   // only its port was wanted
	logf, err := os.Create(logPath) //nolint:gosec // G304: the harness's own log path
	if err != nil {
		return nil, err
	}
	all := append([]string{"run", "--kubeconfig", kubeconfig, "--data-dir", dataDir, "--listen", addr}, args...)
	cmd := exec.Command(bin, all...) //nolint:gosec // G204: the nodewatch binary this harness built
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	d := &daemon{cmd: cmd, addr: addr, logPath: logPath, started: time.Now(), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		_ = logf.Close() // the start error is the one to report
		return nil, err
	}
	go func() { _ = cmd.Wait(); _ = logf.Close(); close(d.done) }() // the daemon wrote the log through its own descriptor
	return d, nil
}

// waitReady waits for /readyz (informers synced) and returns how long the
// daemon took from its start.
func (d *daemon) waitReady(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get("http://" + d.addr + "/readyz")
		if err == nil {
			_ = resp.Body.Close() // only the status is read
			if resp.StatusCode == http.StatusOK {
				return time.Since(d.started), nil
			}
		}
		select {
		case <-d.done:
			return 0, fmt.Errorf("nodewatch run exited; log %s", d.logPath)
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("nodewatch run not ready after %s; log %s", timeout, d.logPath)
		}
	}
}

// stop sends SIGTERM, then SIGKILL after 15 s.
func (d *daemon) stop() {
	select {
	case <-d.done:
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(15 * time.Second):
		logf("nodewatch did not stop within 15s of SIGTERM; killing it")
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

// metrics reads /metrics into "name{labels}" → value.
func (d *daemon) metrics() (map[string]float64, error) {
	resp, err := http.Get("http://" + d.addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }() // the reply is read; its close has nothing to report
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err()
}

// procStatus reads /proc/PID/status's memory lines (VmRSS, VmHWM, RssAnon,
// RssFile) in bytes.
func procStatus(pid int) (map[string]float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[2] == "kB" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			out[strings.TrimSuffix(f[0], ":")] = kb * 1024
		}
	}
	return out, nil
}

// mappedFiles sums /proc/PID/smaps's Rss by mapped file, largest first.
func mappedFiles(pid int) map[string]float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return nil
	}
	out := map[string]float64{}
	file := ""
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-") && len(f[1]) == 4:
			file = "[anon]"
			if len(f) >= 6 {
				file = f[5]
			}
		case len(f) == 3 && f[0] == "Rss:":
			kb, _ := strconv.ParseFloat(f[1], 64)
			out[file] += kb * 1024
		}
	}
	return out
}

// cpuSeconds is the process's user+system CPU time (USER_HZ = 100).
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return math.NaN()
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100
}
