package dumpgen

import (
	"fmt"
	"time"
)

type node struct {
	name, ip, zone, instanceType string
	created                      time.Time
	down, cordoned               bool
	downSince                    time.Time
	cpu, memMi                   int
	podNet                       [2]int // 10.a.b.0/24
	nextPodIP                    int
	images                       []image
}

type image struct {
	repoTag string
	digest  string
	size    int64
}

var instanceTypes = []struct {
	name     string
	cpu, mem int // cores, GiB
}{
	{"m6i.xlarge", 4, 16}, {"m6i.2xlarge", 8, 32}, {"r6i.2xlarge", 8, 64}, {"c6i.4xlarge", 16, 32}, {"m6i.4xlarge", 16, 64},
}

var zones = []string{"eu-west-1a", "eu-west-1b", "eu-west-1c"}

// systemImages are on every node; workload images are added per node.
var systemImages = []string{
	"registry.k8s.io/kube-proxy:v1.37.2", "registry.k8s.io/pause:3.10",
	"quay.io/prometheus/node-exporter:v1.9.1", "cr.fluentbit.io/fluent/fluent-bit:4.0.3",
	"602401143452.dkr.ecr.eu-west-1.amazonaws.com/amazon-k8s-cni:v1.19.5",
	"602401143452.dkr.ecr.eu-west-1.amazonaws.com/amazon-k8s-cni-init:v1.19.5",
	"602401143452.dkr.ecr.eu-west-1.amazonaws.com/eks/aws-ebs-csi-driver:v1.44.0",
	"602401143452.dkr.ecr.eu-west-1.amazonaws.com/eks/csi-node-driver-registrar:v2.13.0",
	"602401143452.dkr.ecr.eu-west-1.amazonaws.com/eks/livenessprobe:v2.15.0",
	"docker.io/envoyproxy/envoy:v1.34.1",
}

func (g *gen) planNodes() {
	n := g.c.Nodes
	g.nodes = make([]node, n)
	for i := range g.nodes {
		it := instanceTypes[g.rng.IntN(len(instanceTypes))]
		ip := fmt.Sprintf("10.%d.%d.%d", 20+i/62500, (i/250)%250, i%250+4)
		g.nodes[i] = node{
			name:         "ip-" + dashed(ip) + ".eu-west-1.compute.internal",
			ip:           ip,
			zone:         zones[i%len(zones)],
			instanceType: it.name,
			created:      g.ago(24*time.Hour, 120*24*time.Hour),
			cpu:          it.cpu,
			memMi:        it.mem * 1024,
			podNet:       [2]int{100 + i/256, i % 256},
		}
		for range 12 + g.rng.IntN(14) {
			g.nodes[i].images = append(g.nodes[i].images, image{
				repoTag: fmt.Sprintf("registry.example.com/%s/%s:%s", g.pick(namespaces), g.pick(apps), g.version()),
				digest:  g.hex(64), size: 20e6 + g.rng.Int64N(900e6),
			})
		}
	}
	// About 2% have stopped reporting, one in a thousand is cordoned.
	perm := g.rng.Perm(n)
	down := max(1, n*2/100)
	for _, i := range perm[:down] {
		g.nodes[i].down = true
		g.nodes[i].downSince = g.ago(2*time.Minute, 3*time.Hour)
	}
	for _, i := range perm[down:min(n, down+n/1000)] {
		g.nodes[i].cordoned = true
	}
	for i := range g.nodes {
		if g.nodes[i].down {
			g.stats.NotReadyNodes++
		}
		if g.nodes[i].cordoned {
			g.stats.CordonedNodes++
		}
	}
}

func dashed(ip string) string {
	b := []byte(ip)
	for i, c := range b {
		if c == '.' {
			b[i] = '-'
		}
	}
	return string(b)
}

func (g *gen) version() string {
	return fmt.Sprintf("%d.%d.%d", 1+g.rng.IntN(3), g.rng.IntN(30), g.rng.IntN(12))
}

func (g *gen) node(n *node) obj {
	allocMi := n.memMi - 1024 - n.memMi/20
	heartbeat := g.ago(0, 50*time.Second)
	cond := func(typ, status, reason, message string, since time.Time) obj {
		return obj{"type": typ, "status": status, "reason": reason, "message": message,
			"lastHeartbeatTime": ts(heartbeat), "lastTransitionTime": ts(since)}
	}
	var conditions arr
	var taints arr
	up := n.created.Add(90 * time.Second)
	if n.down {
		heartbeat = n.downSince.Add(-40 * time.Second)
		const lost = "Kubelet stopped posting node status."
		conditions = arr{
			cond("MemoryPressure", "Unknown", "NodeStatusUnknown", lost, n.downSince),
			cond("DiskPressure", "Unknown", "NodeStatusUnknown", lost, n.downSince),
			cond("PIDPressure", "Unknown", "NodeStatusUnknown", lost, n.downSince),
			cond("Ready", "Unknown", "NodeStatusUnknown", lost, n.downSince),
		}
		for i := range conditions {
			conditions[i].(obj)["lastHeartbeatTime"] = ts(heartbeat)
		}
		taints = arr{
			obj{"effect": "NoSchedule", "key": "node.kubernetes.io/unreachable", "timeAdded": ts(n.downSince)},
			obj{"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "timeAdded": ts(n.downSince.Add(5 * time.Second))},
		}
	} else {
		conditions = arr{
			cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available", up),
			cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure", up),
			cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available", up),
			cond("Ready", "True", "KubeletReady", "kubelet is posting ready status", up.Add(20*time.Second)),
		}
	}
	if n.cordoned {
		taints = append(taints, obj{"effect": "NoSchedule", "key": "node.kubernetes.io/unschedulable", "timeAdded": ts(g.ago(time.Hour, 48*time.Hour))})
	}
	spec := obj{
		"podCIDR":    fmt.Sprintf("10.%d.%d.0/24", n.podNet[0], n.podNet[1]),
		"podCIDRs":   arr{fmt.Sprintf("10.%d.%d.0/24", n.podNet[0], n.podNet[1])},
		"providerID": "aws:///" + n.zone + "/i-0" + g.hex(16),
	}
	if n.cordoned {
		spec["unschedulable"] = true
	}
	if taints != nil {
		spec["taints"] = taints
	}
	var images arr
	for _, name := range systemImages {
		images = append(images, obj{"names": arr{name}, "sizeBytes": 5e6 + g.rng.Int64N(80e6)})
	}
	for _, im := range n.images {
		repo := im.repoTag[:lastIndex(im.repoTag, ':')]
		images = append(images, obj{"names": arr{repo + "@sha256:" + im.digest, im.repoTag}, "sizeBytes": im.size})
	}
	short := n.name[:lastIndex(n.name, '.')]
	short = short[:lastIndex(short, '.')]
	short = short[:lastIndex(short, '.')]
	return obj{
		"apiVersion": "v1",
		"kind":       "Node",
		"metadata": obj{
			"annotations": obj{
				"alpha.kubernetes.io/provided-node-ip":                   n.ip,
				"csi.volume.kubernetes.io/nodeid":                        `{"ebs.csi.aws.com":"i-0` + g.hex(16) + `"}`,
				"node.alpha.kubernetes.io/ttl":                           "0",
				"volumes.kubernetes.io/controller-managed-attach-detach": "true",
			},
			"creationTimestamp": ts(n.created),
			"labels": obj{
				"beta.kubernetes.io/arch":                  "amd64",
				"beta.kubernetes.io/instance-type":         n.instanceType,
				"beta.kubernetes.io/os":                    "linux",
				"eks.amazonaws.com/capacityType":           "ON_DEMAND",
				"eks.amazonaws.com/nodegroup":              "general-" + n.zone,
				"failure-domain.beta.kubernetes.io/region": "eu-west-1",
				"failure-domain.beta.kubernetes.io/zone":   n.zone,
				"kubernetes.io/arch":                       "amd64",
				"kubernetes.io/hostname":                   short,
				"kubernetes.io/os":                         "linux",
				"node.kubernetes.io/instance-type":         n.instanceType,
				"topology.ebs.csi.aws.com/zone":            n.zone,
				"topology.kubernetes.io/region":            "eu-west-1",
				"topology.kubernetes.io/zone":              n.zone,
			},
			"name":            n.name,
			"resourceVersion": g.resourceVersion(),
			"uid":             g.uid(),
		},
		"spec": spec,
		"status": obj{
			"addresses": arr{
				obj{"address": n.ip, "type": "InternalIP"},
				obj{"address": n.name, "type": "InternalDNS"},
				obj{"address": n.name, "type": "Hostname"},
			},
			"allocatable": obj{
				"cpu": fmt.Sprintf("%dm", n.cpu*1000-90), "ephemeral-storage": "95491281146",
				"hugepages-1Gi": "0", "hugepages-2Mi": "0", "memory": fmt.Sprintf("%dKi", allocMi*1024), "pods": "110",
			},
			"capacity": obj{
				"cpu": fmt.Sprint(n.cpu), "ephemeral-storage": "104845292Ki",
				"hugepages-1Gi": "0", "hugepages-2Mi": "0", "memory": fmt.Sprintf("%dKi", n.memMi*1024-g.rng.IntN(400000)), "pods": "110",
			},
			"conditions":      conditions,
			"daemonEndpoints": obj{"kubeletEndpoint": obj{"Port": 10250}},
			"images":          images,
			"nodeInfo": obj{
				"architecture":            "amd64",
				"bootID":                  g.uid(),
				"containerRuntimeVersion": "containerd://2.1.3",
				"kernelVersion":           "6.12.34-56.141.amzn2023.x86_64",
				"kubeProxyVersion":        "",
				"kubeletVersion":          "v1.37.2-eks-1a2b3c4",
				"machineID":               g.hex(32),
				"operatingSystem":         "linux",
				"osImage":                 "Amazon Linux 2023.7.20250623",
				"systemUUID":              "ec2" + g.hex(5) + "-" + g.hex(4) + "-" + g.hex(4) + "-" + g.hex(4) + "-" + g.hex(12),
			},
		},
	}
}

func lastIndex(s string, c byte) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == c {
			return i
		}
	}
	return len(s)
}
