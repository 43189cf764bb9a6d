package simcluster

import "context"

// Annotations that drive a pod's simulated memory (kwok evaluates them with
// CEL on every kubelet scrape):
//
//	nodewatch.dev/memory            the base working set, e.g. "200Mi"
//	nodewatch.dev/leak-mib-per-min  growth on top of the base, MiB per minute since the pod started
//	nodewatch.dev/warmup-seconds    with leak-mib-per-min: the growth stops this long after the pod
//	                                started and the working set holds there (a cache that fills: a plateau)
//	nodewatch.dev/spike-memory      the working set during the first 15 s of every 90 s
//
// and a node's simulated kernel counters, read by the cAdvisor-style metric:
//
//	nodewatch.dev/pgmajfault        the root cgroup's major page faults (a counter)
//	nodewatch.dev/disk-read-bytes   the root cgroup's bytes read from disk (a counter)
const (
	AnnotationMemory      = "nodewatch.dev/memory"
	AnnotationLeak        = "nodewatch.dev/leak-mib-per-min"
	AnnotationWarmup      = "nodewatch.dev/warmup-seconds"
	AnnotationSpike       = "nodewatch.dev/spike-memory"
	AnnotationPgMajFault  = "nodewatch.dev/pgmajfault"
	AnnotationDiskReadsBy = "nodewatch.dev/disk-read-bytes"
)

// usageManifest is kwok's ClusterResourceUsage for the annotations above and
// a Metric serving /metrics/nodes/{node}/metrics/cadvisor with the cAdvisor
// series nodewatch reads.
const usageManifest = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterResourceUsage
metadata:
  name: nodewatch-usage
spec:
  usages:
  - usage:
      cpu:
        expression: 'Quantity("10m")'
      memory:
        expression: |
          "nodewatch.dev/leak-mib-per-min" in pod.metadata.annotations
          ? ("nodewatch.dev/memory" in pod.metadata.annotations ? Quantity(pod.metadata.annotations["nodewatch.dev/memory"]) : Quantity("1Mi"))
            + Quantity("1Mi") * (("nodewatch.dev/warmup-seconds" in pod.metadata.annotations && pod.SinceSecond() > double(pod.metadata.annotations["nodewatch.dev/warmup-seconds"])
                ? double(pod.metadata.annotations["nodewatch.dev/warmup-seconds"]) : pod.SinceSecond()) / 60.0)
              * double(pod.metadata.annotations["nodewatch.dev/leak-mib-per-min"])
          : ("nodewatch.dev/spike-memory" in pod.metadata.annotations && (int(pod.SinceSecond()) % 90) < 15
            ? Quantity(pod.metadata.annotations["nodewatch.dev/spike-memory"])
            : ("nodewatch.dev/memory" in pod.metadata.annotations ? Quantity(pod.metadata.annotations["nodewatch.dev/memory"]) : Quantity("1Mi")))
---
kind: Metric
apiVersion: kwok.x-k8s.io/v1alpha1
metadata:
  name: nodewatch-cadvisor
spec:
  path: "/metrics/nodes/{nodeName}/metrics/cadvisor"
  metrics:
  - name: container_memory_failures_total
    dimension: node
    help: Cumulative count of memory allocation failures.
    kind: counter
    labels:
    - name: failure_type
      value: '"pgmajfault"'
    - name: scope
      value: '"hierarchy"'
    - name: id
      value: '"/"'
    value: '"nodewatch.dev/pgmajfault" in node.metadata.annotations ? double(node.metadata.annotations["nodewatch.dev/pgmajfault"]) : 0.0'
  - name: container_fs_reads_bytes_total
    dimension: node
    help: Cumulative count of bytes read.
    kind: counter
    labels:
    - name: id
      value: '"/"'
    - name: device
      value: '"/dev/vda"'
    value: '"nodewatch.dev/disk-read-bytes" in node.metadata.annotations ? double(node.metadata.annotations["nodewatch.dev/disk-read-bytes"]) : 0.0'
  - name: container_memory_rss
    dimension: container
    help: Size of RSS in bytes.
    kind: gauge
    labels:
    - name: container
      value: 'container.name'
    - name: namespace
      value: 'pod.metadata.namespace'
    - name: pod
      value: 'pod.metadata.name'
    value: 'pod.Usage("memory", container.name)'
`

// ApplyUsage installs the simulated usage: after it, the kubelets' resource
// and cAdvisor endpoints report what the annotations above say.
func (c *Cluster) ApplyUsage(ctx context.Context) error {
	return c.Apply(ctx, usageManifest)
}
