// Package collect scrapes every Ready node's kubelet directly, as
// metrics-server does: the address from the node's status (by a configured
// preference of address types), the port from its daemonEndpoints, TLS with
// the service-account token, and the node annotation
// metrics.k8s.io/resource-metrics-path when present. It reads
// /metrics/resource (container and node CPU and working set) and
// /metrics/cadvisor (RSS, major page faults per container and for the root
// cgroup — the node's —, OOM events, memory limits, disk reads), through a
// bounded worker pool with a timeout per node, so a kubelet that hangs never
// delays the others.
package collect

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"golang.org/x/oauth2"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	corev1 "k8s.io/api/core/v1"
)

// ResourcePathAnnotation overrides a node's resource-metrics path (kwok,
// metrics-server).
const ResourcePathAnnotation = "metrics.k8s.io/resource-metrics-path"

// Target is one kubelet.
type Target struct {
	Node         string
	Base         string // https://10.0.0.1:10250
	ResourcePath string
	CadvisorPath string
	// Err is why the node is not scraped (a path annotation that is not a
	// plain absolute path): its result carries it, and no request is sent.
	Err error
}

// Targets picks the Ready nodes' kubelet endpoints. prefs orders the
// address types (InternalIP, Hostname, ExternalIP by default).
func Targets(nodes []*corev1.Node, prefs []corev1.NodeAddressType, scheme string) []Target {
	var out []Target
	for _, n := range nodes {
		if !ready(n) {
			continue
		}
		addr := address(n, prefs)
		port := n.Status.DaemonEndpoints.KubeletEndpoint.Port
		if addr == "" || port == 0 {
			continue
		}
		t := Target{Node: n.Name, Base: (&url.URL{Scheme: scheme, Host: net.JoinHostPort(addr, strconv.Itoa(int(port)))}).String(),
			ResourcePath: "/metrics/resource", CadvisorPath: "/metrics/cadvisor"}
		if p, ok := n.Annotations[ResourcePathAnnotation]; ok && p != "" {
			if err := checkPath(p); err != nil {
				t.Err = fmt.Errorf("node %s: annotation %s: %w; not scraped", n.Name, ResourcePathAnnotation, err)
			}
			t.ResourcePath = p
			if base, ok := strings.CutSuffix(p, "/metrics/resource"); ok {
				t.CadvisorPath = base + "/metrics/cadvisor"
			}
		}
		out = append(out, t)
	}
	return out
}

// checkPath accepts a node's resource-metrics path annotation only as a
// plain absolute path: the request it ends up in carries the service
// account's token, and anyone who can patch a Node (or a compromised
// kubelet) would otherwise point it at a host of their choosing
// ("@evil:80/x" makes https://node:10250@evil:80/x).
func checkPath(p string) error {
	switch {
	case len(p) > 256:
		return fmt.Errorf("a path of %d bytes, at most 256", len(p))
	case !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//"):
		return fmt.Errorf("%q is not an absolute path", p)
	case strings.ContainsAny(p, "@?#%\\"):
		return fmt.Errorf("%q: a path may not hold '@', '?', '#', '%%' or '\\'", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." || seg == "." {
			return fmt.Errorf("%q: a path may not hold '.' or '..' segments", p)
		}
	}
	for _, r := range p {
		if r <= ' ' || r >= 0x7f {
			return fmt.Errorf("%q: only printable ASCII", p)
		}
	}
	return nil
}

func ready(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func address(n *corev1.Node, prefs []corev1.NodeAddressType) string {
	for _, t := range prefs {
		for _, a := range n.Status.Addresses {
			if a.Type == t && a.Address != "" {
				return a.Address
			}
		}
	}
	return ""
}

// resourceKeep are the /metrics/resource series nodewatch stores: container
// and node CPU and working set. The pod-level series repeat the sum of the
// pod's containers and container_start_time_seconds a pod's status already
// tells; at two series per container instead of five, the history's memory
// (its head block holds every live series) is well under half.
var resourceKeep = map[string]bool{
	"container_cpu_usage_seconds_total": true, "container_memory_working_set_bytes": true,
	"node_cpu_usage_seconds_total": true, "node_memory_working_set_bytes": true,
}

// cadvisorKeep are the cAdvisor series nodewatch stores; the rest of a
// cAdvisor scrape (hundreds of series per container) is dropped.
var cadvisorKeep = map[string]bool{
	"container_memory_rss": true, "container_memory_failures_total": true, "container_oom_events_total": true,
	"container_spec_memory_limit_bytes": true, "container_fs_reads_bytes_total": true, "container_fs_reads_total": true,
	"container_memory_cache": true, "container_memory_swap": true,
}

// Options configure a Scraper.
type Options struct {
	Timeout     time.Duration // per node and endpoint
	Workers     int
	InsecureTLS bool
	// CA, PEM, verifies the kubelets' serving certificates (nil: the
	// system's roots); InsecureTLS skips the check.
	CA []byte
	// Tokens give the bearer token for each request (the service
	// account's, re-read as it rotates: bound tokens expire); Token is a
	// fixed one, used when Tokens is nil.
	Tokens oauth2.TokenSource
	Token  string
	Log    *slog.Logger
}

// Scraper scrapes targets.
type Scraper struct {
	opts   Options
	client *http.Client
}

// NewScraper returns a scraper; a CA that holds no certificate is an error.
func NewScraper(o Options) (*Scraper, error) {
	if o.Workers <= 0 {
		o.Workers = 16
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: o.InsecureTLS} //nolint:gosec // an explicit option, as in metrics-server
	if len(o.CA) > 0 && !o.InsecureTLS {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(o.CA) {
			return nil, errors.New("the kubelet CA holds no PEM certificate")
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	tr.MaxIdleConnsPerHost = 2
	// A kubelet's redirect is an error, not a request elsewhere with the token.
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Scraper{opts: o, client: &http.Client{Transport: tr, CheckRedirect: noRedirect}}, nil
}

// Result is what one node gave.
type Result struct {
	Node     string
	Samples  []Sample
	Rejected Rejected
	Err      error
	Duration time.Duration
}

// Scrape scrapes every target with the worker pool. Labels returns extra
// labels for a container series (the owning workload); it may be nil.
func (s *Scraper) Scrape(ctx context.Context, targets []Target, now time.Time, workload func(ns, pod string) labels.Labels) []Result {
	out := make([]Result, len(targets))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(s.opts.Workers, len(targets)) {
		wg.Go(func() {
			for i := range jobs {
				out[i] = s.scrapeOne(ctx, targets[i], now, workload)
			}
		})
	}
	for i := range targets {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return out
}

func (s *Scraper) scrapeOne(ctx context.Context, t Target, now time.Time, workload func(ns, pod string) labels.Labels) Result {
	start := time.Now()
	r := Result{Node: t.Node, Rejected: Rejected{}}
	if t.Err != nil {
		r.Err = t.Err
		return r
	}
	nodeLabel := labels.FromStrings("node", t.Node)
	for _, ep := range []struct {
		path string
		keep func(string) bool
	}{{t.ResourcePath, func(n string) bool { return resourceKeep[n] }}, {t.CadvisorPath, func(n string) bool { return cadvisorKeep[n] }}} {
		body, err := s.get(ctx, t.Base, ep.path)
		if err != nil {
			r.Err = fmt.Errorf("%s%s: %w", t.Base, ep.path, err)
			break
		}
		samples, rej, err := Parse(body, ep.keep, nodeLabel, now.UnixMilli())
		for k, v := range rej {
			r.Rejected[k] += v
		}
		if room := maxSamples - len(r.Samples); len(samples) > room {
			r.Rejected["too_many_samples"] += len(samples) - room
			samples = samples[:room]
		}
		r.Samples = append(r.Samples, samples...)
		if err != nil {
			r.Err = fmt.Errorf("%s%s: %w", t.Base, ep.path, err)
			break
		}
	}
	if workload != nil {
		for i := range r.Samples {
			l := r.Samples[i].Labels
			if ns, pod := l.Get("namespace"), l.Get("pod"); ns != "" && pod != "" {
				if w := workload(ns, pod); !w.IsEmpty() {
					b := labels.NewBuilder(l)
					w.Range(func(x labels.Label) { b.Set(x.Name, x.Value) })
					r.Samples[i].Labels = b.Labels()
				}
			}
		}
	}
	r.Duration = time.Since(start)
	return r
}

// maxBody bounds one endpoint's answer (a cAdvisor scrape of a busy node
// is a few MB).
const maxBody = 64 << 20

func (s *Scraper) get(ctx context.Context, base, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	host := u.Host
	if err := checkPath(path); err != nil {
		return nil, err
	}
	u.Path = path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	// The token goes only to the kubelet address the Node gave.
	if req.URL.Host != host || req.URL.User != nil {
		return nil, fmt.Errorf("refusing to send the token to %s (want %s)", req.URL.Redacted(), host)
	}
	token := s.opts.Token
	if s.opts.Tokens != nil {
		t, err := s.opts.Tokens.Token()
		if err != nil {
			return nil, fmt.Errorf("reading the service account token: %w", err)
		}
		token = t.AccessToken
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4;q=0.9,*/*;q=0.1")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }() // the reply is read; its close has nothing to report
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("answered %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxBody {
		return nil, fmt.Errorf("answer over %d MiB", maxBody>>20)
	}
	return b, nil
}
