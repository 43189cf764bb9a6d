package cluster

import (
	corev1 "k8s.io/api/core/v1"
)

// Namespace is the part of a v1.Namespace nodewatch reads.
type Namespace struct {
	Name  string
	Phase string // Active or Terminating
}

// LimitRange is what a v1.LimitRange does to containers that declare no
// resources: the LimitRanger admission plugin gives them Default as limits
// and DefaultRequest as requests when their pod is created.
type LimitRange struct {
	Namespace, Name string
	// Default and DefaultRequest merge the LimitRange's items of type
	// Container (a later item wins, as in the admission plugin), with the
	// API server's defaulting applied: a missing default limit is the max, a
	// missing default request is the default limit, else the min.
	Default, DefaultRequest Resources
}

// ResourceQuota is the part of a v1.ResourceQuota nodewatch reads: the
// memory it bounds in its namespace, in bytes (nil when it bounds none).
type ResourceQuota struct {
	Namespace, Name string
	// RequestsMemory is hard requests.memory (or memory); LimitsMemory is
	// hard limits.memory.
	RequestsMemory, LimitsMemory *int64
}

// Kinds says which of the optional kinds a source read in full, so that
// finding no LimitRange means "there is none" and not "it was not read".
type Kinds struct {
	Namespaces, LimitRanges, ResourceQuotas bool
}

// NamespaceFrom converts a v1.Namespace.
func NamespaceFrom(n *corev1.Namespace) Namespace {
	return Namespace{Name: n.Name, Phase: string(n.Status.Phase)}
}

// LimitRangeFrom converts a v1.LimitRange.
func LimitRangeFrom(l *corev1.LimitRange) LimitRange {
	out := LimitRange{Namespace: l.Namespace, Name: l.Name}
	for i := range l.Spec.Limits {
		it := &l.Spec.Limits[i]
		if it.Type != corev1.LimitTypeContainer {
			continue
		}
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			// SetDefaults_LimitRangeItem, which objects read from the API
			// server have been through and hand-written ones have not.
			def, ok := it.Default[name]
			if !ok {
				def, ok = it.Max[name]
			}
			req, reqOK := it.DefaultRequest[name]
			if !reqOK && ok {
				req, reqOK = def, true
			}
			if !reqOK {
				req, reqOK = it.Min[name]
			}
			if ok {
				setResource(&out.Default, name, def.Value(), def.MilliValue())
			}
			if reqOK {
				setResource(&out.DefaultRequest, name, req.Value(), req.MilliValue())
			}
		}
	}
	return out
}

func setResource(r *Resources, name corev1.ResourceName, value, milli int64) {
	switch name {
	case corev1.ResourceCPU:
		r.MilliCPU = &milli
	case corev1.ResourceMemory:
		r.Memory = &value
	}
}

// ResourceQuotaFrom converts a v1.ResourceQuota.
func ResourceQuotaFrom(q *corev1.ResourceQuota) ResourceQuota {
	out := ResourceQuota{Namespace: q.Namespace, Name: q.Name}
	for _, name := range []corev1.ResourceName{corev1.ResourceRequestsMemory, corev1.ResourceMemory} {
		if v, ok := q.Spec.Hard[name]; ok {
			b := v.Value()
			out.RequestsMemory = &b
			break
		}
	}
	if v, ok := q.Spec.Hard[corev1.ResourceLimitsMemory]; ok {
		b := v.Value()
		out.LimitsMemory = &b
	}
	return out
}
