package rebalance

import (
	"slices"
	"strconv"
)

// Requirement is one requirement of a node selector term, as in
// corev1.NodeSelectorRequirement: Key is a node label (in MatchFields,
// the field "metadata.name"), Operator one of In, NotIn, Exists,
// DoesNotExist, Gt and Lt (Gt and Lt compare integers).
type Requirement struct {
	Key, Operator string
	Values        []string
}

// NodeSelectorTerm holds when all of its requirements do. An empty term
// holds for no node, as in corev1.
type NodeSelectorTerm struct {
	MatchExpressions, MatchFields []Requirement
}

// affinityAllows says whether a node with name and labels satisfies a
// pod's required node affinity: any of its terms (none: any node).
func affinityAllows(terms []NodeSelectorTerm, name string, nodeLabels map[string]string) bool {
	if len(terms) == 0 {
		return true
	}
	return slices.ContainsFunc(terms, func(t NodeSelectorTerm) bool { return t.holds(name, nodeLabels) })
}

func (t NodeSelectorTerm) holds(name string, nodeLabels map[string]string) bool {
	if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
		return false
	}
	for _, r := range t.MatchExpressions {
		v, ok := nodeLabels[r.Key]
		if !r.holds(v, ok) {
			return false
		}
	}
	for _, r := range t.MatchFields {
		// metadata.name is the only field the scheduler supports.
		if r.Key != "metadata.name" || !r.holds(name, true) {
			return false
		}
	}
	return true
}

// holds evaluates the requirement on a label's value (ok: the label is
// set); an unknown operator holds for no node.
func (r Requirement) holds(v string, ok bool) bool {
	switch r.Operator {
	case "In":
		return ok && slices.Contains(r.Values, v)
	case "NotIn":
		return !ok || !slices.Contains(r.Values, v)
	case "Exists":
		return ok
	case "DoesNotExist":
		return !ok
	case "Gt", "Lt":
		if !ok || len(r.Values) != 1 {
			return false
		}
		have, err1 := strconv.ParseInt(v, 10, 64)
		want, err2 := strconv.ParseInt(r.Values[0], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if r.Operator == "Gt" {
			return have > want
		}
		return have < want
	}
	return false
}
