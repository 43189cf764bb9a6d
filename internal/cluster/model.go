// Package cluster holds nodewatch's slim view of Kubernetes objects: the
// model every source converts into (see package kube for the API server).
//
// Every source — a live cluster, a `kubectl get -o json` dump, and later the
// daemon's informers — converts its objects through NodeFrom and PodFrom, so
// the fields nodewatch reads and how it derives them (owner, QoS, memory
// request and limit) live in one place.
package cluster

import "time"

// Condition is a node or pod condition.
type Condition struct {
	Type    string    `json:"type"`
	Status  string    `json:"status"`
	Reason  string    `json:"reason,omitempty"`
	Message string    `json:"message,omitempty"`
	Since   time.Time `json:"since,omitzero"`
}

// Node is the part of a v1.Node that nodewatch reads.
type Node struct {
	Name          string
	Unschedulable bool
	Conditions    []Condition
	// AllocatableMemory is status.allocatable.memory in bytes (0 if unknown).
	AllocatableMemory int64
}

// Condition returns the node's condition of the given type, if present.
func (n *Node) Condition(t string) (Condition, bool) {
	for _, c := range n.Conditions {
		if c.Type == t {
			return c, true
		}
	}
	return Condition{}, false
}

// Owner names a workload.
type Owner struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// Pod is the part of a v1.Pod that nodewatch reads.
type Pod struct {
	Namespace string
	Name      string
	NodeName  string
	// Owner is the pod's controller as written on the pod (a ReplicaSet, a
	// Job, ...); Owners.Resolve walks it up to the workload a user manages.
	Owner Owner
	// TemplateHash is the pod-template-hash label a Deployment's ReplicaSets
	// put on their pods; it lets a ReplicaSet name be resolved without the
	// ReplicaSet object.
	TemplateHash string
	Phase        string
	QOS          string
	// MemoryRequest is the pod's effective memory request in bytes, nil when
	// no container requests memory.
	MemoryRequest *int64
	// MemoryLimit is the pod's memory limit in bytes, nil when any container
	// runs without one (the pod can grow until the node runs out).
	MemoryLimit *int64
	Restarts    int32
	// Unschedulable is set when PodScheduled=False with reason Unschedulable.
	Unschedulable        bool
	UnschedulableMessage string
	UnschedulableSince   time.Time
	// Reason and Message are the pod's status reason ("Evicted") and message.
	Reason, Message string
	// Deleting is set once the pod has a deletionTimestamp.
	Deleting bool
	// LastTransition is the latest transition of any of the pod's conditions.
	LastTransition time.Time
	// Containers are the init and app containers with their declared
	// resources, init containers first.
	Containers []Container
	// Statuses are the app containers' states.
	Statuses []ContainerStatus
}

// Container is one container's declared resources.
type Container struct {
	Name string
	// Init is set for init containers; Sidecar for restartable init
	// containers (restartPolicy Always), which run beside the app.
	Init, Sidecar    bool
	Requests, Limits Resources
}

// Resources are CPU (millicores) and memory (bytes); nil when not set.
type Resources struct {
	MilliCPU, Memory *int64
}

// ContainerStatus is an app container's state.
type ContainerStatus struct {
	Name     string
	Restarts int32
	// Waiting is why the container waits (CrashLoopBackOff, ...), if it does.
	Waiting, WaitingMessage string
	// Terminated is the current state's termination and LastTermination the
	// previous run's; nil when there is none.
	Terminated, LastTermination *Termination
}

// Termination is how a container run ended.
type Termination struct {
	Reason, Message string
	ExitCode        int32
	FinishedAt      time.Time
}

// Key returns namespace/name.
func (p *Pod) Key() string { return p.Namespace + "/" + p.Name }

// Workload is a controller's desired and available replicas.
type Workload struct {
	Namespace, Kind, Name string
	Desired, Available    int32
	Created               time.Time
}
