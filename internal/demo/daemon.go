package demo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// daemonFlags make `nodewatch run` work on minutes of history instead of
// hours: scrape every 5 s, name a likely cause from 1 minute of growth,
// judge leaks over 2 minutes and page faults over 30 s. Alerts are grouped
// as by default: a node failure at once, those that follow within 30 s
// in one follow-up.
var daemonFlags = []string{
	"--scrape-interval", "5s", "--scrape-timeout", "4s", "--kubelet-insecure-tls",
	"--cause-min-history", "1m", "--leak-window", "2m", "--thrashing-window", "30s",
}

// daemon is `nodewatch run`, a child process in its own process group that
// the kernel kills should the demo die first.
type daemon struct {
	cmd     *exec.Cmd
	args    []string
	addr    string
	logPath string
	done    chan struct{}
}

// startDaemon starts nodewatch run with its data dir and log in dir,
// serving on a free loopback port, and waits until it is ready.
func startDaemon(ctx context.Context, bin, kubeconfig, dir string) (*daemon, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "nodewatch.log")
	logf, err := os.Create(logPath) //nolint:gosec // G304: in the demo's own temporary directory
	if err != nil {
		return nil, err
	}
	args := append([]string{"run", "--kubeconfig", kubeconfig, "--data-dir", filepath.Join(dir, "nodewatch-data"),
		"--listen", addr, "--external-url", "http://" + addr}, daemonFlags...)
	cmd := exec.Command(bin, args...) //nolint:gosec // G204: the nodewatch binary the demo was given
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logf.Close() // the start error is the one to report
		return nil, fmt.Errorf("starting %s run: %w", bin, err)
	}
	d := &daemon{cmd: cmd, args: args, addr: addr, logPath: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		_ = logf.Close() // the daemon wrote the log through its own descriptor
		close(d.done)
	}()
	deadline := time.After(60 * time.Second)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get("http://" + addr + "/readyz")
		if err == nil {
			_ = resp.Body.Close() // only the status is read
			if resp.StatusCode == http.StatusOK {
				return d, nil
			}
		}
		select {
		case <-d.done:
			return nil, d.exitedError()
		case <-ctx.Done():
			d.stop()
			return nil, ctx.Err()
		case <-deadline:
			d.stop()
			return nil, fmt.Errorf("nodewatch run not ready after 60s; its log %s ends:\n%s", logPath, d.logTail())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// URL is the dashboard's address.
func (d *daemon) URL() string { return "http://" + d.addr }

// stop sends SIGTERM to the daemon's process group and SIGKILL after 15 s.
func (d *daemon) stop() {
	select {
	case <-d.done:
		return
	default:
	}
	_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		<-d.done
	}
}

func (d *daemon) exitedError() error {
	return fmt.Errorf("nodewatch run exited (%v); its log %s ends:\n%s", d.cmd.ProcessState, d.logPath, d.logTail())
}

func (d *daemon) logTail() string {
	b, err := os.ReadFile(d.logPath)
	if err != nil {
		return ""
	}
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return strings.TrimSpace(string(b))
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }() // only its port was wanted
	return l.Addr().String(), nil
}

// alert is one notification the daemon's log sink wrote.
type alert struct {
	Title, Text, Rule, Status, Severity string
}

// parseAlert reads an "ALERT ..." line of the daemon's log (slog's text
// format: key=value pairs, values quoted when they need it).
func parseAlert(line string) (alert, bool) {
	kv := logfmt(line)
	title, ok := strings.CutPrefix(kv["msg"], "ALERT ")
	if !ok {
		return alert{}, false
	}
	return alert{Title: title, Text: kv["text"], Rule: kv["rule"], Status: kv["status"], Severity: kv["severity"]}, true
}

// logfmt splits a slog text line into its keys and values.
func logfmt(line string) map[string]string {
	out := map[string]string{}
	s := line
	for {
		s = strings.TrimLeft(s, " ")
		eq := strings.IndexByte(s, '=')
		if eq <= 0 || strings.ContainsAny(s[:eq], ` "`) {
			return out
		}
		key := s[:eq]
		s = s[eq+1:]
		if strings.HasPrefix(s, `"`) {
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				return out
			}
			out[key], _ = strconv.Unquote(q)
			s = s[len(q):]
			continue
		}
		end := strings.IndexByte(s, ' ')
		if end < 0 {
			end = len(s)
		}
		out[key] = s[:end]
		s = s[end:]
	}
}

// tail follows the daemon's log from its start until ctx ends, handing
// every ALERT line to onAlert.
func tail(ctx context.Context, path string, onAlert func(alert)) error {
	f, err := os.Open(path) //nolint:gosec // G304: the daemon's log in the demo's temporary directory
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }() // read only: a close error loses nothing
	r := bufio.NewReader(f)
	var partial string
	for {
		line, err := r.ReadString('\n')
		partial += line
		if err == nil {
			if a, ok := parseAlert(strings.TrimRight(partial, "\n")); ok {
				onAlert(a)
			}
			partial = ""
			continue
		}
		if !errors.Is(err, io.EOF) {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(300 * time.Millisecond):
		}
	}
}
