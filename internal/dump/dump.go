// Package dump reads the JSON that `kubectl get nodes,pods -A -o json`
// writes — a v1 List, or several lists (NodeList, PodList) one after the
// other — into a cluster.Snapshot. ReplicaSets and Jobs (to name pods'
// workloads) and, for `audit`, Namespaces, LimitRanges and ResourceQuotas
// are read too, in a List or in lists of their own kind.
//
// A dump says which kinds it holds only by the objects in it: a List from
// `kubectl get nodes,pods,namespaces,limitranges,resourcequotas -A -o json`
// has no LimitRange in it when the cluster has none. So a kind counts as
// read (cluster.Snapshot.Listed) when a list of its own kind appears (even
// an empty one), when any object of it appears, or — for LimitRanges and
// ResourceQuotas — when Namespace objects appear: a dump that asked for
// namespaces is taken to have asked for those too, as the command above does.
//
// The input is decoded as a stream, item by item, so a dump of 150,000 pods
// is never held whole in memory: only the slim cluster.Node and cluster.Pod
// values are kept. Every item goes through cluster.NodeFrom/PodFrom, the same
// conversion a live cluster's objects take.
//
// Errors name the input, the byte offset and, where known, the object.
package dump

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/nodewatch/nodewatch/internal/cluster"
)

// Error is a problem with the input, located by byte offset.
type Error struct {
	Input  string // file name, or "<stdin>"
	Offset int64
	Object string // "items[3] pod default/web-1", when known
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: byte %d", e.Input, e.Offset)
	if e.Object != "" {
		b.WriteString(": " + e.Object)
	}
	b.WriteString(": " + e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// listKinds are the top-level kinds accepted.
var listKinds = map[string]string{
	"List": "", "NodeList": "Node", "PodList": "Pod", "ReplicaSetList": "ReplicaSet", "JobList": "Job",
	"NamespaceList": "Namespace", "LimitRangeList": "LimitRange", "ResourceQuotaList": "ResourceQuota",
}

// Read decodes every JSON value in r. name labels errors.
// The snapshot must hold at least one node.
func Read(r io.Reader, name string) (*cluster.Snapshot, error) {
	d := &decoder{
		name: name,
		// jsontext and json v2 (what becomes encoding/json/v2) decode a
		// kubectl dump 3.5 times as fast as encoding/json, which was too
		// slow for 150,000 pods; see BENCHMARKS.md. They are told to
		// accept what encoding/json accepted: duplicate names (the last
		// wins) and invalid UTF-8 (replaced by U+FFFD).
		dec: jsontext.NewDecoder(bufio.NewReaderSize(r, 1<<20),
			jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)),
		snap: cluster.NewSnapshot(),
	}
	docs := 0
	for {
		tok, err := d.dec.ReadToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, d.fail("", err)
		}
		if tok.Kind() != '{' {
			return nil, d.fail("", fmt.Errorf("found %s, want a JSON object: a List from `kubectl get nodes,pods -A -o json`", tok))
		}
		docs++
		if err := d.list(); err != nil {
			return nil, err
		}
	}
	switch {
	case docs == 0:
		return nil, d.fail("", errors.New("no JSON found; expected the output of `kubectl get nodes,pods -A -o json`"))
	case len(d.snap.Nodes) == 0:
		return nil, d.fail("", errors.New("no Node objects found; dump nodes too: `kubectl get nodes,pods -A -o json`"))
	}
	if d.snap.Listed.Namespaces {
		d.snap.Listed.LimitRanges, d.snap.Listed.ResourceQuotas = true, true
	}
	return d.snap, nil
}

type decoder struct {
	name string
	dec  *jsontext.Decoder
	snap *cluster.Snapshot
}

// fail locates err: at the byte where the JSON went wrong, or else just
// after the last value read.
func (d *decoder) fail(object string, err error) error {
	offset := d.dec.InputOffset()
	var se *jsontext.SyntacticError
	var me *json.SemanticError
	switch {
	case errors.As(err, &se) && se.ByteOffset > 0:
		offset = se.ByteOffset
	case errors.As(err, &me) && me.ByteOffset > 0:
		offset = me.ByteOffset
	}
	return &Error{Input: d.name, Offset: offset, Object: object, Err: explain(err)}
}

// list decodes one top-level value whose opening token was consumed and
// must have been '{'.
func (d *decoder) list() error {
	kind, sawItems := "", false
	for d.dec.PeekKind() != '}' {
		keyTok, err := d.dec.ReadToken()
		if err != nil {
			return d.fail("", err)
		}
		switch key := keyTok.String(); key {
		case "kind":
			if err := json.UnmarshalDecode(d.dec, &kind); err != nil {
				return d.fail("kind", err)
			}
			if _, ok := listKinds[kind]; !ok {
				return d.fail("", fmt.Errorf("found a %s, want a List of nodes and pods (kubectl get nodes,pods -A -o json)", describeKind(kind)))
			}
		case "items":
			sawItems = true
			if err := d.items(kind); err != nil {
				return err
			}
		default:
			if err := d.dec.SkipValue(); err != nil {
				return d.fail(key, err)
			}
		}
	}
	if _, err := d.dec.ReadToken(); err != nil { // the closing '}'
		return d.fail("", err)
	}
	if kind == "" || !sawItems {
		return d.fail("", errors.New("not a List: a JSON object without kind and items; want the output of `kubectl get nodes,pods -A -o json`"))
	}
	d.listed(listKinds[kind])
	return nil
}

// listed records that objects of kind were read.
func (d *decoder) listed(kind string) {
	switch kind {
	case "Namespace":
		d.snap.Listed.Namespaces = true
	case "LimitRange":
		d.snap.Listed.LimitRanges = true
	case "ResourceQuota":
		d.snap.Listed.ResourceQuotas = true
	}
}

func describeKind(k string) string {
	if k == "" {
		return "object without kind"
	}
	return k
}

func (d *decoder) items(listKind string) error {
	tok, err := d.dec.ReadToken()
	if err != nil {
		return d.fail("items", err)
	}
	switch tok.Kind() {
	case 'n': // "items": null
		return nil
	case '[':
	default:
		return d.fail("items", fmt.Errorf("items must be an array, found %s", tok))
	}
	for i := 0; d.dec.PeekKind() != ']'; i++ {
		var it item
		if err := json.UnmarshalDecode(d.dec, &it); err != nil {
			return d.fail(fmt.Sprintf("items[%d]%s", i, it.describe()), err)
		}
		if err := d.add(&it, listKinds[listKind]); err != nil {
			return d.fail(fmt.Sprintf("items[%d]%s", i, it.describe()), err)
		}
	}
	if _, err := d.dec.ReadToken(); err != nil { // ']'
		return d.fail("items", err)
	}
	return nil
}

func (d *decoder) add(it *item, listItemKind string) error {
	kind := it.Kind
	if kind == "" {
		kind = listItemKind
	}
	if kind == "" {
		kind = it.guessKind()
	}
	switch kind {
	case "Node":
		n, err := it.node()
		if err != nil {
			return err
		}
		d.snap.Nodes = append(d.snap.Nodes, cluster.NodeFrom(n))
	case "Pod":
		p, err := it.pod()
		if err != nil {
			return err
		}
		d.snap.Pods = append(d.snap.Pods, cluster.PodFrom(p))
	case "ReplicaSet", "Job":
		d.snap.Owners.Add(kind, it.Metadata.Namespace, it.Metadata.Name, cluster.ControllerOf(it.Metadata.OwnerReferences))
	case "Namespace":
		n, err := it.namespace()
		if err != nil {
			return err
		}
		d.snap.Namespaces = append(d.snap.Namespaces, cluster.NamespaceFrom(n))
	case "LimitRange":
		l, err := it.limitRange()
		if err != nil {
			return err
		}
		d.snap.LimitRanges = append(d.snap.LimitRanges, cluster.LimitRangeFrom(l))
	case "ResourceQuota":
		q, err := it.resourceQuota()
		if err != nil {
			return err
		}
		d.snap.Quotas = append(d.snap.Quotas, cluster.ResourceQuotaFrom(q))
	}
	d.listed(kind)
	// Other kinds (from `kubectl get all`, say) do not bear on node health.
	return nil
}

// explain words the decoder's errors for a user: a truncated file, where
// the JSON is invalid, which field has the wrong type. The byte offset is
// the Error's.
func explain(err error) error {
	var se *jsontext.SyntacticError
	var me *json.SemanticError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return errors.New("unexpected end of input (is the file truncated?)")
	case errors.As(err, &se):
		return fmt.Errorf("not valid JSON: %w", se.Err)
	case errors.As(err, &me):
		// Worded as encoding/json did, which users and scripts know, but
		// naming the field.
		var b strings.Builder
		b.WriteString("json: cannot unmarshal ")
		b.WriteString(jsonKind(me.JSONKind))
		if len(me.JSONValue) > 0 && len(me.JSONValue) < 40 {
			b.WriteString(" " + string(me.JSONValue))
		}
		if p := fieldPath(me.JSONPointer); p != "" {
			b.WriteString(" into " + p)
		}
		if me.GoType != nil {
			b.WriteString(" of type " + me.GoType.String())
		}
		if me.Err != nil {
			b.WriteString(": " + me.Err.Error())
		}
		return errors.New(b.String())
	}
	return err
}

func jsonKind(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 't', 'f':
		return "bool"
	case '"':
		return "string"
	case '0':
		return "number"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return "value"
}

// fieldPath turns the JSON pointer /items/3/spec/containers/0/name into
// spec.containers[0].name: the item is named before it.
func fieldPath(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		if _, err := strconv.Atoi(tok); err == nil {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	s := b.String()
	if rest, ok := strings.CutPrefix(s, "items["); ok {
		if _, after, ok := strings.Cut(rest, "]"); ok {
			s = strings.TrimPrefix(after, ".")
		}
	}
	return s
}
