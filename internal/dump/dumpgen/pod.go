package dumpgen

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// workload is the controller behind a set of pods, with the pod template
// they share.
type workload struct {
	kind            string // Deployment, StatefulSet, DaemonSet, Job, ReplicationController; "" for a bare pod
	namespace, name string
	// ownerKind/ownerName is the pod's controller: a Deployment's pods are
	// owned by its ReplicaSet name-hash, a CronJob's by its Job.
	ownerKind, ownerName, ownerUID string
	hash                           string // pod-template-hash or controller-revision-hash
	created                        time.Time
	app, version, team             string
	containers, initContainers     []container
	qos                            string
	pending                        bool // cannot be scheduled: asks for more memory than any node has
	tolerateForever                bool // DaemonSet pods tolerate unreachable nodes
	scraped                        bool // Prometheus annotations
	recommendedLabels              bool // app.kubernetes.io/part-of and version too
}

type container struct {
	name, image    string
	restartAlways  bool // a native sidecar among init containers
	cpuReq, cpuLim string
	memReq, memLim string
	env            arr
	port           int
	probes         bool
}

type pod struct {
	w    *workload
	name string
	node int // -1: not scheduled
	// phase is Running, Succeeded, Failed or Pending.
	phase    string
	restarts int
	created  time.Time
}

var namespaces = []string{
	"ads", "analytics", "auth", "billing", "catalog", "checkout", "chat", "cms", "crm", "data", "emails", "events",
	"experiments", "gateway", "growth", "identity", "inventory", "logistics", "maps", "media", "ml", "mobile-api",
	"notifications", "partners", "payments", "platform", "pricing", "recommendations", "reporting", "reviews",
	"search", "security", "shop", "streaming", "support", "warehouse", "web",
}

var apps = []string{
	"order", "cart", "user", "session", "price", "stock", "invoice", "ledger", "profile", "feed", "image", "thumbnail",
	"video", "search", "index", "token", "quota", "audit", "report", "export", "import", "sync", "notify", "mailer",
	"sms", "push", "geo", "route", "rate", "cache", "queue", "event", "metric", "ranker", "scorer", "feature", "model",
	"label", "config", "webhook",
}

var roles = []string{"api", "worker", "consumer", "service", "gateway", "scheduler", "processor", "frontend", "backend", "indexer", "proxy", "sync"}

var envNames = []string{
	"LOG_LEVEL", "LOG_FORMAT", "HTTP_PORT", "GRPC_PORT", "DB_HOST", "DB_PORT", "DB_NAME", "REDIS_URL", "KAFKA_BROKERS",
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SERVICE_NAME", "FEATURE_FLAGS_URL", "CACHE_TTL_SECONDS", "MAX_CONNECTIONS",
	"WORKER_CONCURRENCY", "REGION", "ENVIRONMENT", "SENTRY_DSN", "UPSTREAM_TIMEOUT", "GOMEMLIMIT",
}

var envValues = []string{
	"info", "json", "8080", "9090", "postgres.%s.svc.cluster.local", "5432", "%s", "redis://redis.%s.svc.cluster.local:6379/0",
	"kafka-0.kafka.data.svc.cluster.local:9092,kafka-1.kafka.data.svc.cluster.local:9092", "http://otel-collector.observability:4317",
	"%s", "http://flags.platform.svc.cluster.local", "300", "200", "16", "eu-west-1", "production",
	"https://sentry.example.com/api/42/envelope/", "2500ms", "900MiB",
}

func (g *gen) planPods() {
	total := g.c.Pods
	used := map[string]bool{}

	// DaemonSets: one pod per node, as many as fit in a tenth of the pods.
	daemonSets := []struct{ ns, name, image, cpu, mem string }{
		{"kube-system", "kube-proxy", "registry.k8s.io/kube-proxy:v1.37.2", "100m", ""},
		{"monitoring", "node-exporter", "quay.io/prometheus/node-exporter:v1.9.1", "50m", "64Mi"},
		{"logging", "fluent-bit", "cr.fluentbit.io/fluent/fluent-bit:4.0.3", "100m", "128Mi"},
	}
	nDS := min(len(daemonSets), total/10/len(g.nodes))
	for _, d := range daemonSets[:nDS] {
		w := &workload{
			kind: "DaemonSet", namespace: d.ns, name: d.name, ownerKind: "DaemonSet", ownerName: d.name, ownerUID: g.uid(),
			hash: fmt.Sprint(5000000000 + g.rng.IntN(4000000000)), created: g.ago(100*24*time.Hour, 120*24*time.Hour),
			app: d.name, version: "v1.37.2", team: "platform", tolerateForever: true,
		}
		c := container{name: d.name, image: d.image, cpuReq: d.cpu, env: arr{envFrom("NODE_NAME", "spec.nodeName")}, probes: d.mem != ""}
		if d.mem != "" {
			c.memReq, c.memLim, c.port = d.mem, d.mem, 9100
		}
		w.containers = []container{c}
		w.qos = qosOf(w)
		for i := range g.nodes {
			g.addPod(used, w, d.name+"-"+g.suffix(5), i)
		}
	}

	// A few pods no node can take.
	pending := min(total-len(g.pods), max(1, total/5000))
	for pending > 0 {
		w := g.workload(used, "Deployment", "ml")
		w.pending = true
		for i := range w.containers {
			w.containers[i].memReq, w.containers[i].memLim = "96Gi", "96Gi"
			w.containers[i].cpuReq, w.containers[i].cpuLim = "8", "8"
		}
		w.qos = qosOf(w)
		for range min(pending, 1+g.rng.IntN(8)) {
			g.addPod(used, w, w.ownerName+"-"+g.suffix(5), -1)
			pending--
		}
	}

	// The rest: Deployments mostly, some StatefulSets, CronJobs' Jobs,
	// legacy ReplicationControllers and bare pods.
	for len(g.pods) < total {
		var kind string
		var replicas int
		switch r := g.rng.IntN(100); {
		case r < 72:
			kind, replicas = "Deployment", 1+g.rng.IntN(14)
		case r < 80:
			kind, replicas = "StatefulSet", 1+g.rng.IntN(5)
		case r < 93:
			kind, replicas = "Job", 1+g.rng.IntN(3)
		case r < 96:
			kind, replicas = "ReplicationController", 1+g.rng.IntN(4)
		default:
			kind, replicas = "", 1
		}
		w := g.workload(used, kind, g.pick(namespaces))
		for i := range min(replicas, total-len(g.pods)) {
			name := w.name
			switch kind {
			case "Deployment", "ReplicationController", "Job":
				name = w.ownerName + "-" + g.suffix(5)
			case "StatefulSet":
				name = fmt.Sprintf("%s-%d", w.name, i)
			}
			g.addPod(used, w, name, g.rng.IntN(len(g.nodes)))
		}
	}
	sortPods(g.pods)
	for i := range g.pods {
		p := &g.pods[i]
		switch {
		case p.node < 0:
			g.stats.Unschedulable++
		case g.nodes[p.node].down && p.phase != "Succeeded" && p.phase != "Failed":
			g.stats.PodsOnNotReady++
		}
	}
}

func (g *gen) addPod(used map[string]bool, w *workload, name string, node int) {
	for used[w.namespace+"/"+name] {
		name = name[:len(name)-5] + g.suffix(5)
	}
	used[w.namespace+"/"+name] = true
	p := pod{w: w, name: name, node: node, phase: "Running", created: g.ago(time.Minute, min(g.c.Now.Sub(w.created), 90*24*time.Hour))}
	switch {
	case node < 0:
		p.phase = "Pending"
	case w.kind == "Job":
		switch r := g.rng.IntN(100); {
		case r < 75:
			p.phase = "Succeeded"
		case r < 80:
			p.phase = "Failed"
		}
	}
	if p.phase == "Running" && g.rng.IntN(10) == 0 {
		p.restarts = 1 + g.rng.IntN(20)
	}
	g.pods = append(g.pods, p)
}

// workload makes a controller and its pod template.
func (g *gen) workload(used map[string]bool, kind, ns string) *workload {
	app := g.pick(apps)
	name := app + "-" + g.pick(roles)
	for n := 2; used["workload/"+ns+"/"+name]; n++ {
		name = fmt.Sprintf("%s-%s-%d", app, roles[g.rng.IntN(len(roles))], n)
	}
	used["workload/"+ns+"/"+name] = true
	w := &workload{
		kind: kind, namespace: ns, name: name, created: g.ago(2*time.Hour, 200*24*time.Hour),
		app: app, version: g.version(), team: ns, ownerKind: kind, ownerName: name, ownerUID: g.uid(),
	}
	switch kind {
	case "Deployment":
		w.hash = g.suffix(8 + g.rng.IntN(3))
		w.ownerKind, w.ownerName = "ReplicaSet", name+"-"+w.hash
	case "StatefulSet":
		w.hash = name + "-" + g.suffix(10)
	case "Job":
		w.ownerName = fmt.Sprintf("%s-%d", name, 29400000+g.rng.IntN(20000))
	}
	image := fmt.Sprintf("registry.example.com/%s/%s:%s", ns, app, w.version)
	main := container{name: app, image: image, port: 8080, probes: kind != "Job" && g.rng.IntN(10) < 3}
	w.scraped, w.recommendedLabels = g.rng.IntN(10) < 3, g.rng.IntN(2) == 0
	for _, i := range g.rng.Perm(len(envNames))[:g.rng.IntN(5)] {
		v := envValues[i]
		if strings.Contains(v, "%s") {
			v = fmt.Sprintf(v, ns)
		}
		main.env = append(main.env, obj{"name": envNames[i], "value": v})
	}
	if g.rng.IntN(2) == 0 {
		main.env = append(main.env, envFrom("POD_NAME", "metadata.name"))
	}
	if g.rng.IntN(5) == 0 {
		main.env = append(main.env, obj{"name": "DB_PASSWORD", "valueFrom": obj{"secretKeyRef": obj{"key": "password", "name": app + "-db"}}})
	}
	w.containers = []container{main}
	if g.rng.IntN(10) == 0 {
		w.containers = append(w.containers, container{name: "envoy", image: "docker.io/envoyproxy/envoy:v1.34.1", port: 15090,
			env: arr{obj{"name": "ENVOY_UID", "value": "0"}, envFrom("POD_NAME", "metadata.name")}})
	}
	switch r := g.rng.IntN(100); {
	case r < 8:
		w.initContainers = []container{{name: "migrate", image: image, env: arr{obj{"name": "MIGRATE", "value": "up"}}}}
	case r < 10:
		w.initContainers = []container{{name: "cloud-sql-proxy", image: "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.17.1", restartAlways: true}}
	}
	// Resources: Guaranteed, Burstable (some without a memory limit) or BestEffort.
	mem := []int{64, 128, 256, 512, 768, 1024, 2048, 4096}[g.rng.IntN(8)]
	cpu := []int{50, 100, 250, 500, 1000, 2000}[g.rng.IntN(6)]
	style := g.rng.IntN(100)
	set := func(c *container, mem, cpu int) {
		switch {
		case style < 20: // Guaranteed
			c.memReq, c.memLim = fmt.Sprintf("%dMi", mem), fmt.Sprintf("%dMi", mem)
			c.cpuReq, c.cpuLim = fmt.Sprintf("%dm", cpu), fmt.Sprintf("%dm", cpu)
		case style < 75:
			c.memReq, c.memLim, c.cpuReq = fmt.Sprintf("%dMi", mem), fmt.Sprintf("%dMi", 2*mem), fmt.Sprintf("%dm", cpu)
		case style < 88: // no memory limit: may grow until the node runs out
			c.memReq, c.cpuReq = fmt.Sprintf("%dMi", mem), fmt.Sprintf("%dm", cpu)
		}
	}
	set(&w.containers[0], mem, cpu)
	for i := 1; i < len(w.containers); i++ {
		set(&w.containers[i], 128, 100)
	}
	for i := range w.initContainers {
		set(&w.initContainers[i], 64, 100)
	}
	w.qos = qosOf(w)
	return w
}

func envFrom(name, field string) obj {
	return obj{"name": name, "valueFrom": obj{"fieldRef": obj{"apiVersion": "v1", "fieldPath": field}}}
}

// qosOf follows the kubelet: Guaranteed when every container has cpu and
// memory limits equal to its requests, BestEffort when none has any.
func qosOf(w *workload) string {
	guaranteed, any := true, false
	for _, c := range append(append([]container{}, w.initContainers...), w.containers...) {
		if c.cpuReq != "" || c.cpuLim != "" || c.memReq != "" || c.memLim != "" {
			any = true
		}
		if c.cpuLim == "" || c.memLim == "" || (c.cpuReq != "" && c.cpuReq != c.cpuLim) || (c.memReq != "" && c.memReq != c.memLim) {
			guaranteed = false
		}
	}
	switch {
	case !any:
		return "BestEffort"
	case guaranteed:
		return "Guaranteed"
	}
	return "Burstable"
}

func resourcesOf(c *container) obj {
	r := obj{}
	req, lim := obj{}, obj{}
	if c.cpuReq != "" {
		req["cpu"] = c.cpuReq
	}
	if c.memReq != "" {
		req["memory"] = c.memReq
	}
	if c.cpuLim != "" {
		lim["cpu"] = c.cpuLim
	}
	if c.memLim != "" {
		lim["memory"] = c.memLim
	}
	if len(req) > 0 {
		r["requests"] = req
	}
	if len(lim) > 0 {
		r["limits"] = lim
	}
	return r
}

// containerSpec is the container as the API server returns it, defaults
// filled in; applied is the subset a user wrote.
func containerSpec(c *container, saVolume string) (spec, applied obj) {
	applied = obj{"name": c.name, "image": c.image, "resources": resourcesOf(c)}
	spec = obj{
		"image": c.image, "imagePullPolicy": "IfNotPresent", "name": c.name, "resources": resourcesOf(c),
		"terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
		"volumeMounts": arr{obj{"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "name": saVolume, "readOnly": true}},
	}
	if c.env != nil {
		spec["env"] = c.env
	}
	if c.restartAlways {
		spec["restartPolicy"] = "Always"
		applied["restartPolicy"] = "Always"
	}
	if c.port != 0 {
		ports := arr{obj{"containerPort": c.port, "name": "http", "protocol": "TCP"}}
		spec["ports"], applied["ports"] = ports, ports
	}
	if c.probes {
		spec["readinessProbe"] = obj{"failureThreshold": 3, "httpGet": obj{"path": "/readyz", "port": c.port, "scheme": "HTTP"},
			"initialDelaySeconds": 5, "periodSeconds": 10, "successThreshold": 1, "timeoutSeconds": 1}
	}
	return spec, applied
}

func (g *gen) pod(p *pod) obj {
	w := p.w
	var n *node
	if p.node >= 0 {
		n = &g.nodes[p.node]
	}
	saVolume := "kube-api-access-" + g.suffix(5)
	labels := obj{"app": w.app}
	if w.recommendedLabels {
		labels["app.kubernetes.io/name"], labels["app.kubernetes.io/part-of"], labels["app.kubernetes.io/version"] = w.app, w.team, w.version
	}
	switch w.kind {
	case "Deployment":
		labels["pod-template-hash"] = w.hash
	case "StatefulSet":
		labels["controller-revision-hash"] = w.hash
		labels["statefulset.kubernetes.io/pod-name"] = p.name
		labels["apps.kubernetes.io/pod-index"] = p.name[lastIndex(p.name, '-')+1:]
	case "DaemonSet":
		labels["controller-revision-hash"] = w.hash
		labels["pod-template-generation"] = "3"
	case "Job":
		labels["batch.kubernetes.io/job-name"], labels["job-name"] = w.ownerName, w.ownerName
		labels["batch.kubernetes.io/controller-uid"], labels["controller-uid"] = w.ownerUID, w.ownerUID
	}

	var containers, inits, appliedContainers arr
	for i := range w.containers {
		s, a := containerSpec(&w.containers[i], saVolume)
		containers, appliedContainers = append(containers, s), append(appliedContainers, a)
	}
	for i := range w.initContainers {
		s, _ := containerSpec(&w.initContainers[i], saVolume)
		inits = append(inits, s)
	}
	applied, _ := json.Marshal(obj{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": obj{"annotations": obj{}, "labels": obj{"app": w.app}, "name": p.name, "namespace": w.namespace},
		"spec":     obj{"containers": appliedContainers, "serviceAccountName": w.app},
	})
	annotations := obj{"kubectl.kubernetes.io/last-applied-configuration": string(applied) + "\n"}
	if w.scraped {
		annotations["prometheus.io/port"], annotations["prometheus.io/scrape"] = "8080", "true"
	}
	meta := obj{
		"annotations":       annotations,
		"creationTimestamp": ts(p.created),
		"labels":            labels,
		"name":              p.name,
		"namespace":         w.namespace,
		"resourceVersion":   g.resourceVersion(),
		"uid":               g.uid(),
	}
	if w.kind != "" {
		apiVersion := "apps/v1"
		switch w.ownerKind {
		case "Job":
			apiVersion = "batch/v1"
		case "ReplicationController":
			apiVersion = "v1"
		}
		meta["ownerReferences"] = arr{obj{"apiVersion": apiVersion, "blockOwnerDeletion": true, "controller": true,
			"kind": w.ownerKind, "name": w.ownerName, "uid": w.ownerUID}}
		if w.kind != "StatefulSet" {
			meta["generateName"] = p.name[:len(p.name)-5]
		}
	}

	tolerations := arr{
		obj{"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300},
		obj{"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300},
	}
	if w.tolerateForever {
		tolerations = arr{
			obj{"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists"},
			obj{"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists"},
			obj{"effect": "NoSchedule", "key": "node.kubernetes.io/disk-pressure", "operator": "Exists"},
			obj{"effect": "NoSchedule", "key": "node.kubernetes.io/memory-pressure", "operator": "Exists"},
			obj{"effect": "NoSchedule", "key": "node.kubernetes.io/pid-pressure", "operator": "Exists"},
			obj{"effect": "NoSchedule", "key": "node.kubernetes.io/unschedulable", "operator": "Exists"},
		}
	}
	restartPolicy := "Always"
	if w.kind == "Job" {
		restartPolicy = "Never"
	}
	spec := obj{
		"containers": containers, "dnsPolicy": "ClusterFirst", "enableServiceLinks": true,
		"preemptionPolicy": "PreemptLowerPriority", "priority": 0, "restartPolicy": restartPolicy,
		"schedulerName": "default-scheduler", "securityContext": obj{},
		"serviceAccount": w.app, "serviceAccountName": w.app, "terminationGracePeriodSeconds": 30,
		"tolerations": tolerations,
		"volumes": arr{obj{"name": saVolume, "projected": obj{"defaultMode": 420, "sources": arr{
			obj{"serviceAccountToken": obj{"expirationSeconds": 3607, "path": "token"}},
			obj{"configMap": obj{"items": arr{obj{"key": "ca.crt", "path": "ca.crt"}}, "name": "kube-root-ca.crt"}},
			obj{"downwardAPI": obj{"items": arr{obj{"fieldRef": obj{"apiVersion": "v1", "fieldPath": "metadata.namespace"}, "path": "namespace"}}}},
		}}}},
	}
	if inits != nil {
		spec["initContainers"] = inits
	}
	if w.kind == "DaemonSet" && n != nil {
		spec["affinity"] = obj{"nodeAffinity": obj{"requiredDuringSchedulingIgnoredDuringExecution": obj{"nodeSelectorTerms": arr{
			obj{"matchFields": arr{obj{"key": "metadata.name", "operator": "In", "values": arr{n.name}}}}}}}}
	}
	if n != nil {
		spec["nodeName"] = n.name
	}
	return obj{"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": g.podStatus(p, n, saVolume)}
}

func (g *gen) podStatus(p *pod, n *node, saVolume string) obj {
	w := p.w
	started := p.created.Add(time.Duration(1+g.rng.IntN(5)) * time.Second)
	cond := func(typ, status string, at time.Time) obj {
		return obj{"lastProbeTime": nil, "lastTransitionTime": ts(at), "status": status, "type": typ}
	}
	st := obj{"phase": p.phase, "qosClass": w.qos}
	if n == nil {
		c := cond("PodScheduled", "False", p.created)
		c["reason"] = "Unschedulable"
		down := g.stats.NotReadyNodes
		c["message"] = fmt.Sprintf("0/%d nodes are available: %d node(s) had untolerated taint {node.kubernetes.io/unreachable: }, %d Insufficient memory. "+
			"preemption: 0/%d nodes are available: %d No preemption victims found for incoming pod, %d Preemption is not helpful for scheduling.",
			len(g.nodes), down, len(g.nodes)-down, len(g.nodes), len(g.nodes)-down, down)
		st["conditions"] = arr{c}
		return st
	}
	ready := "True"
	readyAt := started.Add(time.Duration(5+g.rng.IntN(40)) * time.Second)
	if p.phase != "Running" {
		ready = "False"
	} else if n.down {
		ready, readyAt = "False", n.downSince.Add(40*time.Second)
	}
	readyCond, containersReady := cond("Ready", ready, readyAt), cond("ContainersReady", ready, readyAt)
	initialized := cond("Initialized", "True", started)
	if p.phase == "Succeeded" || p.phase == "Failed" {
		readyCond["reason"], containersReady["reason"], initialized["reason"] = "PodCompleted", "PodCompleted", "PodCompleted"
	}
	st["conditions"] = arr{cond("PodReadyToStartContainers", "True", started), initialized, readyCond, containersReady, cond("PodScheduled", "True", p.created)}
	podIP := fmt.Sprintf("10.%d.%d.%d", n.podNet[0], n.podNet[1], 2+n.nextPodIP%250)
	n.nextPodIP++
	st["hostIP"], st["hostIPs"] = n.ip, arr{obj{"ip": n.ip}}
	st["podIP"], st["podIPs"] = podIP, arr{obj{"ip": podIP}}
	st["startTime"] = ts(started)

	status := func(c *container, restarts int, runs bool) obj {
		s := obj{
			"containerID": "containerd://" + g.hex(64), "image": c.image,
			"imageID":   c.image[:lastIndex(c.image, ':')] + "@sha256:" + g.hex(64),
			"lastState": obj{}, "name": c.name, "ready": runs && ready == "True", "restartCount": restarts, "started": runs && p.phase == "Running",
			"volumeMounts": arr{obj{"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "name": saVolume, "readOnly": true, "recursiveReadOnly": "Disabled"}},
		}
		switch {
		case runs && p.phase == "Running":
			s["state"] = obj{"running": obj{"startedAt": ts(started.Add(3 * time.Second))}}
		default:
			exit, reason := 0, "Completed"
			if p.phase == "Failed" {
				exit, reason = 1, "Error"
			}
			s["state"] = obj{"terminated": obj{"containerID": s["containerID"], "exitCode": exit, "finishedAt": ts(started.Add(4 * time.Minute)),
				"reason": reason, "startedAt": ts(started.Add(3 * time.Second))}}
		}
		if restarts > 0 {
			reason, code := "Error", 1
			if g.rng.IntN(3) == 0 {
				reason, code = "OOMKilled", 137
			}
			s["lastState"] = obj{"terminated": obj{"containerID": "containerd://" + g.hex(64), "exitCode": code,
				"finishedAt": ts(g.ago(time.Minute, 2*time.Hour)), "reason": reason, "startedAt": ts(g.ago(2*time.Hour, 4*time.Hour))}}
		}
		return s
	}
	var cs, ics arr
	for i := range w.containers {
		r := 0
		if i == 0 {
			r = p.restarts
		}
		cs = append(cs, status(&w.containers[i], r, true))
	}
	for i := range w.initContainers {
		ics = append(ics, status(&w.initContainers[i], 0, w.initContainers[i].restartAlways))
	}
	st["containerStatuses"] = cs
	if ics != nil {
		st["initContainerStatuses"] = ics
	}
	return st
}
