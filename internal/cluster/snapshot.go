package cluster

// Snapshot is the state of a cluster at one moment: its nodes, its pods and
// the ownership of the controllers between pods and workloads.
type Snapshot struct {
	Nodes  []Node
	Pods   []Pod
	Owners Owners
}

// NewSnapshot returns an empty snapshot.
func NewSnapshot() *Snapshot { return &Snapshot{Owners: Owners{}} }
