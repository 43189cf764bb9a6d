package cluster

// Snapshot is the state of a cluster at one moment: its nodes, its pods and
// the ownership of the controllers between pods and workloads.
type Snapshot struct {
	Nodes  []Node
	Pods   []Pod
	Owners Owners
	// Namespaces, LimitRanges and Quotas bound what namespaces' pods may
	// take; `audit` reads them. Listed says which of them the source read,
	// so that an empty slice can be told from one never read.
	Namespaces  []Namespace
	LimitRanges []LimitRange
	Quotas      []ResourceQuota
	Listed      Kinds
}

// NewSnapshot returns an empty snapshot.
func NewSnapshot() *Snapshot { return &Snapshot{Owners: Owners{}} }
