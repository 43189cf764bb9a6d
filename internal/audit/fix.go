package audit

import (
	"fmt"
	"strings"
)

// kubectlKinds are the workload kinds `kubectl set resources` changes (it
// writes their pod template), by the name kubectl takes.
var kubectlKinds = map[string]string{
	"Deployment": "deployment", "StatefulSet": "statefulset", "DaemonSet": "daemonset",
	"ReplicaSet": "replicaset", "ReplicationController": "replicationcontroller", "CronJob": "cronjob",
}

// fix is the one-line fix that sets args on every container of w.
func (a *auditor) fix(w *workload, _ []ContainerRef, args string) string {
	return a.fixEach(w, nil, []string{args}, 0)
}

// fixEach sets args[i] on container refs[i]; with no refs, or when the
// refs are all of the pod's containers and want the same, one command
// covers every container.
func (a *auditor) fixEach(w *workload, refs []ContainerRef, args []string, containers int) string {
	what := strings.Join(args, " ")
	kind, ok := kubectlKinds[w.Owner.Kind]
	if !ok {
		return a.manualFix(w, refs, what)
	}
	cmd := func(sel, args string) string {
		return fmt.Sprintf("kubectl set resources %s/%s -n %s%s %s", kind, w.Owner.Name, w.Namespace, sel, args)
	}
	var cmds []string
	switch {
	case len(refs) == 0 || (len(refs) == containers && same(args)):
		cmds = []string{cmd("", args[0])}
	default:
		for i, r := range refs {
			cmds = append(cmds, cmd(" -c "+r.Name, args[i])) //nolint:gosec // G602: args has one entry per ref (workload.go builds them together)
		}
	}
	line := strings.Join(cmds, " && ")
	if kind == "replicaset" || kind == "replicationcontroller" {
		// Neither rolls its pods: the template change waits for new ones.
		line += "; then delete its pods one at a time so they are re-created with it"
	}
	return line
}

func same(s []string) bool {
	for _, v := range s[1:] {
		if v != s[0] {
			return false
		}
	}
	return true
}

// manualFix words the fix for workloads kubectl cannot change in place.
func (a *auditor) manualFix(w *workload, refs []ContainerRef, what string) string {
	on := "every container"
	if len(refs) > 0 {
		on = plural(len(refs), "container ", "containers ") + names(refs)
	}
	switch w.Owner.Kind {
	case "Job":
		return fmt.Sprintf("a Job's pod template cannot change: set resources (%s) on %s in job/%s's manifest (or whatever creates it) for its next run", what, on, w.Owner.Name)
	case "Pod":
		return fmt.Sprintf("set resources (%s) on %s in pod %s's manifest and re-create it", what, on, w.Owner.Name)
	case "Node":
		return fmt.Sprintf("a static pod: set resources (%s) on %s in its manifest on node %s (the kubelet's staticPodPath, often /etc/kubernetes/manifests)", what, on, w.Owner.Name)
	}
	return fmt.Sprintf("set resources (%s) on %s in %s %s, whose controller creates the pods, or give namespace %s a LimitRange default", what, on, w.Owner.Kind, w.Owner.Name, w.Namespace)
}

// restart is the fix for pods that predate their LimitRange's defaults.
func (a *auditor) restart(w *workload) string {
	switch kind := kubectlKinds[w.Owner.Kind]; kind {
	case "deployment", "statefulset", "daemonset":
		return fmt.Sprintf("kubectl rollout restart %s/%s -n %s", kind, w.Owner.Name, w.Namespace)
	case "cronjob":
		return "nothing to do: its next run gets the default"
	}
	switch w.Owner.Kind {
	case "Job":
		return "nothing to do for a finished Job; a running one keeps its pods until they end"
	case "Node":
		return fmt.Sprintf("a static pod: set resources in its manifest on node %s", w.Owner.Name)
	case "Pod":
		return fmt.Sprintf("re-create pod %s to give it the default", w.Owner.Name)
	}
	return fmt.Sprintf("delete %s %s's pods one at a time; their replacements get the default", w.Owner.Kind, w.Owner.Name)
}
