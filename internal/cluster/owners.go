package cluster

import "strings"

// Owners maps intermediate controllers (ReplicaSets, Jobs) to the workload
// that owns them, so a pod can be reported under the Deployment or CronJob a
// user actually manages.
type Owners map[string]Owner

func ownerKey(kind, namespace, name string) string { return kind + "/" + namespace + "/" + name }

// Add records that the object kind namespace/name is controlled by owner.
// Objects without a controller are not recorded.
func (o Owners) Add(kind, namespace, name string, owner Owner) {
	if owner.Kind == "" {
		return
	}
	o[ownerKey(kind, namespace, name)] = owner
}

// Resolve returns the workload behind a pod: its controller, walked up
// through ReplicaSets and Jobs to Deployments and CronJobs. Without the
// ReplicaSet object, a ReplicaSet named <deployment>-<pod-template-hash> is
// taken to belong to that Deployment, which is how the Deployment controller
// names them. A pod without a controller is its own owner (kind Pod).
func (o Owners) Resolve(p *Pod) Owner {
	own := p.Owner
	if own.Kind == "" {
		return Owner{Kind: "Pod", Name: p.Name}
	}
	for i := 0; i < 4; i++ { // a chain is at most RS→Deployment or Job→CronJob; bound it anyway
		next, ok := o[ownerKey(own.Kind, p.Namespace, own.Name)]
		if !ok {
			break
		}
		own = next
	}
	if own.Kind == "ReplicaSet" && p.TemplateHash != "" {
		if name, ok := strings.CutSuffix(own.Name, "-"+p.TemplateHash); ok && name != "" {
			return Owner{Kind: "Deployment", Name: name}
		}
	}
	return own
}
