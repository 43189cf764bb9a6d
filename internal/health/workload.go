package health

// WorkloadReport is a workload whose pods keep failing or that runs below
// its desired replicas.
type WorkloadReport struct {
	Namespace string `json:"namespace"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	// Reason is the failure: CrashLoopBackOff, ImagePullBackOff, OOMKilled,
	// Evicted, Unschedulable, Unavailable, ...
	Reason string `json:"reason"`
	// Desired and Available replicas, for Unavailable.
	Desired   int32 `json:"desired,omitempty"`
	Available int32 `json:"available,omitempty"`
	// Pods are the failing pods (namespace/name) with what each last said.
	Pods []FailingPod `json:"pods"`
}

// FailingPod is one pod of a failing workload.
type FailingPod struct {
	Name      string `json:"name"`
	Node      string `json:"node,omitempty"`
	Container string `json:"container,omitempty"`
	Reason    string `json:"reason"`
	// ExitCode and Message come from the last termination.
	ExitCode int32  `json:"exitCode,omitempty"`
	Message  string `json:"message,omitempty"`
	Restarts int32  `json:"restarts"`
	// LogTail is the end of the previous container's log, where RBAC allows.
	LogTail []string `json:"logTail,omitempty"`
}
