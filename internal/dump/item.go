package dump

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// item holds the fields of a Node, Pod, ReplicaSet, Job, Namespace,
// LimitRange or ResourceQuota that nodewatch reads; encoding/json skips the rest without allocating it. Quantities and
// times stay strings here so that a bad one is reported with its field path.
type item struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name              string                  `json:"name"`
		Namespace         string                  `json:"namespace"`
		Labels            map[string]string       `json:"labels"`
		OwnerReferences   []metav1.OwnerReference `json:"ownerReferences"`
		DeletionTimestamp string                  `json:"deletionTimestamp"`
	} `json:"metadata"`
	Spec struct {
		NodeName       string      `json:"nodeName"`
		Unschedulable  bool        `json:"unschedulable"`
		Containers     []container `json:"containers"`
		InitContainers []container `json:"initContainers"`
		// Limits are a LimitRange's items, Hard a ResourceQuota's bounds.
		Limits []limitItem       `json:"limits"`
		Hard   map[string]string `json:"hard"`
	} `json:"spec"`
	Status struct {
		Phase       string            `json:"phase"`
		QOSClass    string            `json:"qosClass"`
		Allocatable map[string]string `json:"allocatable"`
		NodeInfo    *struct{}         `json:"nodeInfo"`
		Conditions  []struct {
			Type               string `json:"type"`
			Status             string `json:"status"`
			Reason             string `json:"reason"`
			Message            string `json:"message"`
			LastTransitionTime string `json:"lastTransitionTime"`
		} `json:"conditions"`
		ContainerStatuses []struct {
			RestartCount int32 `json:"restartCount"`
		} `json:"containerStatuses"`
	} `json:"status"`
}

type container struct {
	Name          string `json:"name"`
	RestartPolicy string `json:"restartPolicy"`
	Resources     struct {
		Requests map[string]string `json:"requests"`
		Limits   map[string]string `json:"limits"`
	} `json:"resources"`
}

type limitItem struct {
	Type           string            `json:"type"`
	Default        map[string]string `json:"default"`
	DefaultRequest map[string]string `json:"defaultRequest"`
	Max            map[string]string `json:"max"`
	Min            map[string]string `json:"min"`
}

// describe names the item for error messages, as far as it was decoded.
func (it *item) describe() string {
	if it.Metadata.Name == "" {
		return ""
	}
	name := it.Metadata.Name
	if it.Metadata.Namespace != "" {
		name = it.Metadata.Namespace + "/" + name
	}
	kind := it.Kind
	if kind == "" {
		kind = it.guessKind()
	}
	return fmt.Sprintf(" %s %s", kind, name)
}

// guessKind tells nodes from pods for items of a list that names no kind.
func (it *item) guessKind() string {
	switch {
	case len(it.Spec.Containers) > 0:
		return "Pod"
	case it.Status.NodeInfo != nil || it.Status.Allocatable != nil:
		return "Node"
	case it.Spec.Limits != nil:
		return "LimitRange"
	case it.Spec.Hard != nil:
		return "ResourceQuota"
	}
	return ""
}

func (it *item) node() (*corev1.Node, error) {
	if it.Metadata.Name == "" {
		return nil, fmt.Errorf("node without metadata.name")
	}
	n := &corev1.Node{}
	n.Name = it.Metadata.Name
	n.Spec.Unschedulable = it.Spec.Unschedulable
	var err error
	if n.Status.Allocatable, err = resources("status.allocatable", it.Status.Allocatable); err != nil {
		return nil, err
	}
	for i, c := range it.Status.Conditions {
		t, err := parseTime(fmt.Sprintf("status.conditions[%d].lastTransitionTime", i), c.LastTransitionTime)
		if err != nil {
			return nil, err
		}
		n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{
			Type: corev1.NodeConditionType(c.Type), Status: corev1.ConditionStatus(c.Status),
			Reason: c.Reason, Message: c.Message, LastTransitionTime: t,
		})
	}
	return n, nil
}

func (it *item) pod() (*corev1.Pod, error) {
	if it.Metadata.Name == "" {
		return nil, fmt.Errorf("pod without metadata.name")
	}
	p := &corev1.Pod{}
	p.Name, p.Namespace = it.Metadata.Name, it.Metadata.Namespace
	p.Labels = it.Metadata.Labels
	p.OwnerReferences = it.Metadata.OwnerReferences
	p.Spec.NodeName = it.Spec.NodeName
	var err error
	if p.Spec.Containers, err = containers("spec.containers", it.Spec.Containers); err != nil {
		return nil, err
	}
	if p.Spec.InitContainers, err = containers("spec.initContainers", it.Spec.InitContainers); err != nil {
		return nil, err
	}
	p.Status.Phase = corev1.PodPhase(it.Status.Phase)
	p.Status.QOSClass = corev1.PodQOSClass(it.Status.QOSClass)
	for i, c := range it.Status.Conditions {
		t, err := parseTime(fmt.Sprintf("status.conditions[%d].lastTransitionTime", i), c.LastTransitionTime)
		if err != nil {
			return nil, err
		}
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{
			Type: corev1.PodConditionType(c.Type), Status: corev1.ConditionStatus(c.Status),
			Reason: c.Reason, Message: c.Message, LastTransitionTime: t,
		})
	}
	for _, cs := range it.Status.ContainerStatuses {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{RestartCount: cs.RestartCount})
	}
	return p, nil
}

func containers(path string, in []container) ([]corev1.Container, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]corev1.Container, len(in))
	for i, c := range in {
		out[i].Name = c.Name
		if c.RestartPolicy != "" {
			rp := corev1.ContainerRestartPolicy(c.RestartPolicy)
			out[i].RestartPolicy = &rp
		}
		var err error
		at := fmt.Sprintf("%s[%d].resources", path, i)
		if out[i].Resources.Requests, err = resources(at+".requests", c.Resources.Requests); err != nil {
			return nil, err
		}
		if out[i].Resources.Limits, err = resources(at+".limits", c.Resources.Limits); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// resources parses the quantities nodewatch reads (cpu, memory); others are
// left alone so an exotic extended resource cannot fail a dump.
func resources(path string, in map[string]string) (corev1.ResourceList, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := corev1.ResourceList{}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		s, ok := in[string(name)]
		if !ok {
			continue
		}
		q, err := resource.ParseQuantity(s)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %q is not a quantity: %w", path, name, s, err)
		}
		out[name] = q
	}
	return out, nil
}

func parseTime(path, s string) (metav1.Time, error) {
	if s == "" {
		return metav1.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return metav1.Time{}, fmt.Errorf("%s: %q is not an RFC 3339 time", path, s)
	}
	return metav1.NewTime(t), nil
}

func (it *item) namespace() (*corev1.Namespace, error) {
	if it.Metadata.Name == "" {
		return nil, fmt.Errorf("namespace without metadata.name")
	}
	n := &corev1.Namespace{}
	n.Name = it.Metadata.Name
	n.Status.Phase = corev1.NamespacePhase(it.Status.Phase)
	return n, nil
}

func (it *item) limitRange() (*corev1.LimitRange, error) {
	if it.Metadata.Name == "" || it.Metadata.Namespace == "" {
		return nil, fmt.Errorf("LimitRange needs metadata.name and metadata.namespace")
	}
	l := &corev1.LimitRange{}
	l.Name, l.Namespace = it.Metadata.Name, it.Metadata.Namespace
	for i, li := range it.Spec.Limits {
		out := corev1.LimitRangeItem{Type: corev1.LimitType(li.Type)}
		at := fmt.Sprintf("spec.limits[%d]", i)
		var err error
		if out.Default, err = resources(at+".default", li.Default); err != nil {
			return nil, err
		}
		if out.DefaultRequest, err = resources(at+".defaultRequest", li.DefaultRequest); err != nil {
			return nil, err
		}
		if out.Max, err = resources(at+".max", li.Max); err != nil {
			return nil, err
		}
		if out.Min, err = resources(at+".min", li.Min); err != nil {
			return nil, err
		}
		l.Spec.Limits = append(l.Spec.Limits, out)
	}
	return l, nil
}

func (it *item) resourceQuota() (*corev1.ResourceQuota, error) {
	if it.Metadata.Name == "" || it.Metadata.Namespace == "" {
		return nil, fmt.Errorf("ResourceQuota needs metadata.name and metadata.namespace")
	}
	q := &corev1.ResourceQuota{}
	q.Name, q.Namespace = it.Metadata.Name, it.Metadata.Namespace
	// Only the memory bounds are read; a quota on anything else (object
	// counts, extended resources) cannot fail a dump.
	for _, name := range []corev1.ResourceName{corev1.ResourceRequestsMemory, corev1.ResourceMemory, corev1.ResourceLimitsMemory} {
		s, ok := it.Spec.Hard[string(name)]
		if !ok {
			continue
		}
		v, err := resource.ParseQuantity(s)
		if err != nil {
			return nil, fmt.Errorf("spec.hard.%s: %q is not a quantity: %w", name, s, err)
		}
		if q.Spec.Hard == nil {
			q.Spec.Hard = corev1.ResourceList{}
		}
		q.Spec.Hard[name] = v
	}
	return q, nil
}
