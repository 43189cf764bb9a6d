package simcluster

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Options configure a cluster. Zero values take the defaults.
type Options struct {
	// BinDir holds the binaries; default BinDir().
	BinDir string
	// Dir holds data, certificates and logs; default a new temp dir.
	Dir string
	// NodeMonitorGracePeriod is how long the node lifecycle controller waits
	// for a heartbeat before marking a node Unknown (default 20s).
	NodeMonitorGracePeriod time.Duration
}

// Cluster is a running simulated cluster.
type Cluster struct {
	// Kubeconfig is the path of an admin kubeconfig for the cluster.
	Kubeconfig string
	// Client is an admin clientset.
	Client kubernetes.Interface
	// Config is the admin REST config.
	Config *rest.Config
	// KwokPort serves the simulated kubelets' endpoints on 127.0.0.1.
	KwokPort int

	dir, bin string
	opts     Options
	ports    map[string]int

	mu    sync.Mutex
	procs map[string]*process
	order []string
}

const adminToken = "nodewatch-simcluster-admin" //nolint:gosec // G101: the simulated cluster's, on loopback only

// Start brings the cluster up and waits until the API server is ready.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.BinDir == "" {
		d, err := BinDir()
		if err != nil {
			return nil, err
		}
		opts.BinDir = d
	}
	if err := checkBins(opts.BinDir); err != nil {
		return nil, err
	}
	if opts.Dir == "" {
		d, err := os.MkdirTemp("", "simcluster-")
		if err != nil {
			return nil, err
		}
		opts.Dir = d
	}
	if opts.NodeMonitorGracePeriod == 0 {
		opts.NodeMonitorGracePeriod = 20 * time.Second
	}
	ports, err := freePorts(7)
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		dir: opts.Dir, bin: opts.BinDir, opts: opts, procs: map[string]*process{},
		ports: map[string]int{"etcd": ports[0], "etcd-peer": ports[1], "apiserver": ports[2], "kcm": ports[3], "scheduler": ports[4], "kwok": ports[5], "kwok-metrics": ports[6]},
	}
	c.KwokPort = ports[5]
	if err := c.prepare(); err != nil {
		return nil, err
	}
	if err := c.startAll(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// StartForTest starts a cluster for t (skipping or failing per Require) and
// stops it when the test ends; component logs are kept in t's temp dir.
func StartForTest(t testing.TB, opts Options) *Cluster {
	t.Helper()
	opts.BinDir = Require(t)
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("starting the simulated cluster: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("simulated cluster logs are in %s", filepath.Join(opts.Dir, "logs"))
		}
		c.Stop()
	})
	return c
}

// Dir is where the cluster keeps its data and logs.
func (c *Cluster) Dir() string { return c.dir }

func (c *Cluster) prepare() error {
	for _, d := range []string{"logs", "etcd", "pki", "certs"} {
		if err := os.MkdirAll(filepath.Join(c.dir, d), 0o750); err != nil {
			return err
		}
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	pki := filepath.Join(c.dir, "pki")
	if err := os.WriteFile(filepath.Join(pki, "sa.key"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(pki, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600); err != nil {
		return err
	}
	if _, err := writeFile(pki, "tokens.csv", adminToken+",admin,admin-uid,system:masters\n"); err != nil {
		return err
	}
	server := "https://127.0.0.1:" + strconv.Itoa(c.ports["apiserver"])
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: simcluster
  cluster:
    server: %s
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: %s
contexts:
- name: simcluster
  context: {cluster: simcluster, user: admin}
current-context: simcluster
`, server, adminToken)
	if c.Kubeconfig, err = writeFile(c.dir, "kubeconfig", kc); err != nil {
		return err
	}
	if c.Config, err = clientcmd.BuildConfigFromFlags("", c.Kubeconfig); err != nil {
		return err
	}
	c.Config.QPS, c.Config.Burst = 200, 400
	c.Client, err = kubernetes.NewForConfig(c.Config)
	return err
}

func (c *Cluster) define(name string, args ...string) {
	c.procs[name] = &process{
		name: name, bin: filepath.Join(c.bin, name), args: args,
		logPath: filepath.Join(c.dir, "logs", name+".log"),
	}
	c.order = append(c.order, name)
}

func (c *Cluster) startAll(ctx context.Context) error {
	p := func(n string) string { return strconv.Itoa(c.ports[n]) }
	pki := func(f string) string { return filepath.Join(c.dir, "pki", f) }
	etcdURL := "http://127.0.0.1:" + p("etcd")
	peerURL := "http://127.0.0.1:" + p("etcd-peer")
	c.define("etcd",
		"--name=simcluster", "--data-dir="+filepath.Join(c.dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=simcluster="+peerURL, "--unsafe-no-fsync", "--log-level=warn",
		"--quota-backend-bytes=8589934592")
	c.define("kube-apiserver",
		"--etcd-servers="+etcdURL, "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port="+p("apiserver"), "--cert-dir="+filepath.Join(c.dir, "certs"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+pki("sa.pub"), "--service-account-signing-key-file="+pki("sa.key"),
		"--service-cluster-ip-range=10.96.0.0/16", "--token-auth-file="+pki("tokens.csv"),
		"--authorization-mode=Node,RBAC", "--disable-admission-plugins=ServiceAccount",
		"--allow-privileged=true", "--profiling=false", "--enable-priority-and-fairness=false",
		"--event-ttl=1h", "--endpoint-reconciler-type=none")
	c.define("kube-controller-manager",
		"--kubeconfig="+c.Kubeconfig, "--bind-address=127.0.0.1", "--secure-port="+p("kcm"),
		"--leader-elect=false", "--use-service-account-credentials=false",
		"--service-account-private-key-file="+pki("sa.key"),
		"--node-monitor-grace-period="+c.opts.NodeMonitorGracePeriod.String(), "--node-monitor-period=2s",
		"--kube-api-qps=200", "--kube-api-burst=400", "--profiling=false")
	c.define("kube-scheduler",
		"--kubeconfig="+c.Kubeconfig, "--bind-address=127.0.0.1", "--secure-port="+p("scheduler"),
		"--leader-elect=false", "--kube-api-qps=200", "--kube-api-burst=400", "--profiling=false")
	c.define("kwok",
		"--kubeconfig="+c.Kubeconfig, "--config="+filepath.Join(c.bin, "stages.yaml"),
		"--manage-all-nodes=false", "--manage-nodes-with-label-selector="+ManagedLabel+"=true",
		"--enable-crds=Metric,ClusterResourceUsage,ResourceUsage",
		"--server-address=127.0.0.1:"+p("kwok"), "--node-port="+p("kwok"), "--node-ip=127.0.0.1",
		"--node-lease-duration-seconds=40", "--cidr=10.0.0.1/16")

	for _, name := range c.order {
		if err := c.procs[name].start(); err != nil {
			return err
		}
		switch name {
		case "etcd":
			if err := c.waitTCP(ctx, name, c.ports["etcd"]); err != nil {
				return err
			}
		case "kube-apiserver":
			if err := c.waitAPIServer(ctx); err != nil {
				return err
			}
			if err := c.applyFile(ctx, "crds.yaml"); err != nil {
				return err
			}
		}
	}
	return c.applyFile(ctx, "metrics-resource.yaml")
}

// Stop kills every component. It is safe to call more than once.
func (c *Cluster) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.order) - 1; i >= 0; i-- {
		c.procs[c.order[i]].stop(10 * time.Second)
	}
}

// StopAPIServer stops kube-apiserver (the rest keeps running), to test
// clients through an API outage.
func (c *Cluster) StopAPIServer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.procs["kube-apiserver"].stop(10 * time.Second)
}

// StartAPIServer restarts a stopped kube-apiserver and waits until it is ready.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	c.mu.Lock()
	p := c.procs["kube-apiserver"]
	err := p.start()
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return c.waitAPIServer(ctx)
}
