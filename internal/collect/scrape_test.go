package collect

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const resourceBody = `# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{container="app",namespace="emails",pod="ue-1"} 1.048576e+08 1732881600000
# TYPE pod_memory_working_set_bytes gauge
pod_memory_working_set_bytes{namespace="emails",pod="ue-1"} 1.1e+08 1732881600000
# TYPE container_start_time_seconds gauge
container_start_time_seconds{container="app",namespace="emails",pod="ue-1"} 1.7e+09 1732881600000
`

// TestScrapeFaults: kubelets that answer, hang, fail or talk garbage each
// get their own result; the hanging one costs its timeout and never delays
// the others; the token goes along; only the kept series are stored.
func TestScrapeFaults(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	var token string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/ok/"):
			token = r.Header.Get("Authorization")
			if strings.HasSuffix(r.URL.Path, "/resource") {
				_, _ = w.Write([]byte(resourceBody)) // the client under test sees what arrived
			}
		case strings.HasPrefix(r.URL.Path, "/hang/"):
			select {
			case <-hang:
			case <-r.Context().Done():
			}
		case strings.HasPrefix(r.URL.Path, "/fail/"):
			http.Error(w, "boom", http.StatusInternalServerError)
		case strings.HasPrefix(r.URL.Path, "/garbage/"):
			_, _ = w.Write([]byte("{{{ not the exposition format")) // the client under test sees what arrived
		}
	}))
	defer srv.Close()
	var targets []Target
	for _, n := range []string{"ok", "hang", "fail", "garbage"} {
		targets = append(targets, Target{Node: n, Base: srv.URL, ResourcePath: "/" + n + "/metrics/resource", CadvisorPath: "/" + n + "/metrics/cadvisor"})
	}
	s := mustScraper(t, Options{Timeout: 500 * time.Millisecond, Workers: 4, InsecureTLS: true, Token: "sa-token"})
	start := time.Now()
	results := s.Scrape(context.Background(), targets, time.Unix(1732881600, 0), nil)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the scrape took %s: a hanging kubelet delayed the others", took)
	}
	byNode := map[string]Result{}
	for _, r := range results {
		byNode[r.Node] = r
	}
	if r := byNode["ok"]; r.Err != nil || len(r.Samples) != 1 || r.Samples[0].Labels.Get("node") != "ok" {
		t.Errorf("ok: %v, %d samples %v (want the container's working set only)", r.Err, len(r.Samples), r.Samples)
	}
	if token != "Bearer sa-token" {
		t.Errorf("Authorization %q", token)
	}
	for node, want := range map[string]string{"hang": "deadline exceeded", "fail": "500", "garbage": "/garbage/metrics/resource"} {
		if r := byNode[node]; r.Err == nil || !strings.Contains(r.Err.Error(), want) {
			t.Errorf("%s: error %v, want one mentioning %q", node, r.Err, want)
		}
	}
	// Without --kubelet-insecure-tls a self-signed kubelet is refused.
	strict := mustScraper(t, Options{Timeout: time.Second})
	if r := strict.Scrape(context.Background(), targets[:1], time.Now(), nil); r[0].Err == nil || !strings.Contains(r[0].Err.Error(), "certificate") {
		t.Errorf("self-signed certificate accepted: %v", r[0].Err)
	}
}

// TestTokenStaysWithTheKubelet plays a tenant who can patch Nodes: a path
// annotation that smuggles in another host, or a kubelet that redirects,
// must never bring the service account's token to that host; the node's
// scrape error says why.
func TestTokenStaysWithTheKubelet(t *testing.T) {
	var stolen atomic.Int32
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			stolen.Add(1)
		}
	}))
	defer evil.Close()
	evilHost := strings.TrimPrefix(evil.URL, "http://")
	kubelet := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, evil.URL+"/metrics/resource", http.StatusFound)
	}))
	defer kubelet.Close()
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(kubelet.URL, "http://"))
	portN, _ := strconv.Atoi(port)
	node := func(name, path string) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{}}}
		if path != "" {
			n.Annotations[ResourcePathAnnotation] = path
		}
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: host}}
		n.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(portN) //nolint:gosec // G109: a port of httptest's, below 65536
		return n
	}
	attacks := map[string]string{
		"userinfo":      "@" + evilHost + "/x",
		"scheme":        "http://" + evilHost + "/x",
		"network path":  "//" + evilHost + "/x",
		"dot segments":  "/../../x",
		"query":         "/x?next=http://" + evilHost,
		"escaped":       "/%2e%2e/x",
		"control chars": "/x\r\nHost: " + evilHost,
	}
	var nodes []*corev1.Node
	for name, path := range attacks {
		nodes = append(nodes, node(name, path))
	}
	nodes = append(nodes, node("redirecting", ""))
	targets := Targets(nodes, []corev1.NodeAddressType{corev1.NodeInternalIP}, "http")
	s := mustScraper(t, Options{Timeout: 2 * time.Second, Token: "sa-token"})
	for _, r := range s.Scrape(context.Background(), targets, time.Now(), nil) {
		if r.Err == nil {
			t.Errorf("%s: scraped without an error", r.Node)
			continue
		}
		want := "not scraped"
		if r.Node == "redirecting" {
			want = "302"
		}
		if !strings.Contains(r.Err.Error(), want) {
			t.Errorf("%s: error %q does not say %q", r.Node, r.Err, want)
		}
	}
	if n := stolen.Load(); n != 0 {
		t.Fatalf("the other host received the token %d times", n)
	}
	// A plain path, kwok's and metrics-server's, is still followed.
	if tg := Targets([]*corev1.Node{node("kwok", "/metrics/nodes/kwok/metrics/resource")}, []corev1.NodeAddressType{corev1.NodeInternalIP}, "http"); tg[0].Err != nil || tg[0].CadvisorPath != "/metrics/nodes/kwok/metrics/cadvisor" {
		t.Errorf("kwok's annotation refused: %+v", tg[0])
	}
}

// TestSeriesFlood plays a compromised kubelet answering with half a
// million distinct series of a kept metric (a million is over the 64 MiB
// an answer may have, refused whole), and a series with hundreds of
// labels: the node's samples are capped and the rest counted, not stored.
func TestSeriesFlood(t *testing.T) {
	var flood strings.Builder
	flood.WriteString("# TYPE container_memory_working_set_bytes gauge\n")
	for i := range 500_000 {
		fmt.Fprintf(&flood, "container_memory_working_set_bytes{container=\"c\",namespace=\"ns\",pod=\"p%d\"} 1\n", i)
	}
	var wide strings.Builder
	wide.WriteString("container_memory_rss{container=\"c\",namespace=\"ns\",pod=\"p\"")
	for i := range 200 {
		fmt.Fprintf(&wide, ",l%d=\"v\"", i)
	}
	wide.WriteString("} 1\n")
	body := []byte(flood.String())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/resource") {
			_, _ = w.Write(body) // the client under test sees what arrived
			return
		}
		_, _ = w.Write([]byte(wide.String())) // the client under test sees what arrived
	}))
	defer srv.Close()
	s := mustScraper(t, Options{Timeout: 30 * time.Second})
	r := s.Scrape(context.Background(), []Target{{Node: "n", Base: srv.URL, ResourcePath: "/metrics/resource", CadvisorPath: "/metrics/cadvisor"}}, time.Now(), nil)[0]
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if len(r.Samples) != maxSamples || r.Rejected["too_many_samples"] != 500_000-maxSamples {
		t.Errorf("%d samples stored, %d refused as too many; want %d and %d", len(r.Samples), r.Rejected["too_many_samples"], maxSamples, 500_000-maxSamples)
	}
	if r.Rejected["too_many_labels"] != 1 {
		t.Errorf("a series with 203 labels: rejected %v", r.Rejected)
	}
}

func mustScraper(t *testing.T, o Options) *Scraper {
	t.Helper()
	s, err := NewScraper(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestKubeletCAAndRotatingToken: a kubelet whose certificate the given CA
// signed is verified without --kubelet-insecure-tls; one the CA did not
// sign is refused; each request carries the token the source gives now
// (a bound service-account token rotates on disk).
func TestKubeletCAAndRotatingToken(t *testing.T) {
	var got []string
	kubelet := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("Authorization"))
	}))
	defer kubelet.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: kubelet.Certificate().Raw})
	tokens := &countingTokens{}
	s := mustScraper(t, Options{Timeout: 2 * time.Second, CA: ca, Tokens: tokens})
	target := []Target{{Node: "n", Base: kubelet.URL, ResourcePath: "/metrics/resource", CadvisorPath: "/metrics/cadvisor"}}
	for range 2 {
		if r := s.Scrape(context.Background(), target, time.Now(), nil)[0]; r.Err != nil {
			t.Fatalf("a kubelet signed by the CA: %v", r.Err)
		}
	}
	if want := []string{"Bearer token-1", "Bearer token-2", "Bearer token-3", "Bearer token-4"}; !slices.Equal(got, want) {
		t.Errorf("tokens sent %q, want %q", got, want)
	}
	other := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	other.TLS = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
	other.StartTLS()
	defer other.Close()
	target[0].Base = other.URL
	if r := s.Scrape(context.Background(), target, time.Now(), nil)[0]; r.Err == nil || !strings.Contains(r.Err.Error(), "certificate") {
		t.Errorf("a kubelet the CA did not sign: %v", r.Err)
	}
	if _, err := NewScraper(Options{CA: []byte("not PEM")}); err == nil {
		t.Error("a CA without a certificate was taken")
	}
}

type countingTokens struct{ n int }

func (c *countingTokens) Token() (*oauth2.Token, error) {
	c.n++
	return &oauth2.Token{AccessToken: fmt.Sprintf("token-%d", c.n)}, nil
}

// selfSigned makes a certificate for 127.0.0.1 that no CA signed.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
