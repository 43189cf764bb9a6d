package simcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

// ManagedLabel marks the nodes kwok keeps alive. FailNode sets it to
// "false"; RecoverNode back to "true".
const ManagedLabel = "nodewatch.dev/simulated"

// NodeSize is a simulated node's capacity.
type NodeSize struct {
	CPU    string // default "8"
	Memory string // default "16Gi"
	Pods   string // default "110"
}

// AddNodes creates nodes named prefix-0 ... prefix-(n-1) and waits until
// all are Ready and schedulable.
func (c *Cluster) AddNodes(ctx context.Context, prefix string, n int, size NodeSize) ([]string, error) {
	size.CPU = cmpOr(size.CPU, "8")
	size.Memory = cmpOr(size.Memory, "16Gi")
	size.Pods = cmpOr(size.Pods, "110")
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("%s-%d", prefix, i)
		list := corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse(size.CPU),
			corev1.ResourceMemory: resource.MustParse(size.Memory),
			corev1.ResourcePods:   resource.MustParse(size.Pods),
		}
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name: names[i],
				Labels: map[string]string{
					ManagedLabel: "true", "kubernetes.io/hostname": names[i], "kubernetes.io/os": "linux",
					"kubernetes.io/arch": "amd64", "type": "kwok",
				},
				Annotations: map[string]string{
					"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake",
					// Where kwok serves this node's kubelet resource metrics.
					"metrics.k8s.io/resource-metrics-path": "/metrics/nodes/" + names[i] + "/metrics/resource",
				},
			},
			Status: corev1.NodeStatus{Capacity: list, Allocatable: list},
		}
		if _, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("creating node %s: %w", names[i], err)
		}
	}
	for _, name := range names {
		if err := c.WaitNodeSchedulable(ctx, name); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// WaitNodeSchedulable waits until the node is Ready and the node lifecycle
// controller has lifted the not-ready taint it puts on every new node: until
// then the scheduler passes the node over, and pods created right after
// AddNodes would all land on the nodes that were untainted first.
func (c *Cluster) WaitNodeSchedulable(ctx context.Context, name string) error {
	return c.Wait(ctx, fmt.Sprintf("node %s Ready and untainted", name), func(ctx context.Context) (bool, error) {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, t := range n.Spec.Taints {
			if t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable {
				return false, nil
			}
		}
		return nodeReady(n) == corev1.ConditionTrue, nil
	})
}

func nodeReady(n *corev1.Node) corev1.ConditionStatus {
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status
		}
	}
	return "" // not reported yet
}

// FailNode stops the node's heartbeats: kwok no longer manages it, so its
// Lease expires and the node lifecycle controller marks it Unknown.
func (c *Cluster) FailNode(ctx context.Context, name string) error {
	return c.setManaged(ctx, name, "false")
}

// RecoverNode resumes the node's heartbeats.
func (c *Cluster) RecoverNode(ctx context.Context, name string) error {
	return c.setManaged(ctx, name, "true")
}

func (c *Cluster) setManaged(ctx context.Context, name, v string) error {
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, ManagedLabel, v)
	_, err := c.Client.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("setting %s=%s on node %s: %w", ManagedLabel, v, name, err)
	}
	return nil
}

// WaitNodeReady waits until the node's Ready condition has status.
func (c *Cluster) WaitNodeReady(ctx context.Context, name, status string) error {
	return c.Wait(ctx, fmt.Sprintf("node %s Ready=%s", name, status), func(ctx context.Context) (bool, error) {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		return string(nodeReady(n)) == status, nil
	})
}

// Wait polls cond every 250ms until it holds, returns an error, ctx ends,
// or a component dies (then the error carries the end of its log).
func (c *Cluster) Wait(ctx context.Context, what string, cond func(context.Context) (bool, error)) error {
	var last error
	for {
		ok, err := cond(ctx)
		if ok {
			return nil
		}
		var f fatal
		if errors.As(err, &f) {
			return fmt.Errorf("waiting for %s: %w", what, f.error)
		}
		if err != nil {
			last = err
		}
		if err := c.exited(); err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("waiting for %s: %w (last error: %w)", what, ctx.Err(), last)
			}
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// fatal marks a Wait condition's error as final: stop waiting.
type fatal struct{ error }

// exited reports a component that died on its own.
func (c *Cluster) exited() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, name := range c.order {
		p := c.procs[name]
		if p.done != nil && !p.running() && name != "kube-apiserver" {
			return p.exitedError()
		}
	}
	return nil
}

func (c *Cluster) waitTCP(ctx context.Context, name string, port int) error {
	return c.Wait(ctx, name+" listening", func(context.Context) (bool, error) {
		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err != nil {
			return false, nil
		}
		_ = conn.Close() // the dial was the check
		return true, nil
	})
}

func (c *Cluster) waitAPIServer(ctx context.Context) error {
	p := c.procs["kube-apiserver"]
	return c.Wait(ctx, "kube-apiserver ready", func(ctx context.Context) (bool, error) {
		if err := p.exitedError(); err != nil {
			return false, fatal{err}
		}
		body, err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && string(body) == "ok", nil
	})
}

// applyFile creates the objects of a manifest kept with the binaries: kwok's
// CRDs, and its resource-metrics Metric, which serves
// /metrics/nodes/{node}/metrics/resource like a kubelet's /metrics/resource.
func (c *Cluster) applyFile(ctx context.Context, name string) error {
	raw, err := os.ReadFile(filepath.Join(c.bin, name)) //nolint:gosec // G304: a manifest beside the built binaries
	if err != nil {
		return err
	}
	return c.Apply(ctx, string(raw))
}

// Apply creates the objects of a multi-document YAML manifest (like
// kubectl create), retrying while their CRDs are still being registered.
func (c *Cluster) Apply(ctx context.Context, manifest string) error {
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	for _, doc := range strings.Split(manifest, "\n---") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
			return fmt.Errorf("manifest: %w", err)
		}
		if len(obj.Object) == 0 {
			continue
		}
		gvk := obj.GroupVersionKind()
		gvr := resourceFor(gvk)
		err := c.Wait(ctx, "creating "+gvk.Kind+" "+obj.GetName(), func(ctx context.Context) (bool, error) {
			var ri dynamic.ResourceInterface = dyn.Resource(gvr)
			if ns := obj.GetNamespace(); ns != "" {
				ri = dyn.Resource(gvr).Namespace(ns)
			}
			_, err := ri.Create(ctx, obj, metav1.CreateOptions{})
			if err == nil || apierrors.IsAlreadyExists(err) {
				return true, nil
			}
			if apierrors.IsNotFound(err) { // CRD not registered yet
				return false, err
			}
			return false, err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// resourceFor maps the kinds the harness creates to their resources.
func resourceFor(gvk schema.GroupVersionKind) schema.GroupVersionResource {
	plural := strings.ToLower(gvk.Kind) + "s"
	switch gvk.Kind {
	case "ClusterResourceUsage":
		plural = "clusterresourceusages"
	case "ResourceUsage":
		plural = "resourceusages"
	}
	return gvk.GroupVersion().WithResource(plural)
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
