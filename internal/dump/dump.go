// Package dump reads the JSON that `kubectl get nodes,pods -A -o json`
// writes — a v1 List, or several lists (NodeList, PodList) one after the
// other — into a cluster.Snapshot.
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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

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
var listKinds = map[string]string{"List": "", "NodeList": "Node", "PodList": "Pod"}

// Read decodes every JSON value in r. name labels errors.
// The snapshot must hold at least one node.
func Read(r io.Reader, name string) (*cluster.Snapshot, error) {
	d := &decoder{name: name, dec: json.NewDecoder(bufio.NewReaderSize(r, 1<<20)), snap: cluster.NewSnapshot()}
	docs := 0
	for {
		tok, err := d.dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, d.fail("", syntaxHint(err))
		}
		if delim, ok := tok.(json.Delim); !ok || delim != '{' {
			return nil, d.fail("", fmt.Errorf("found %v, want a JSON object: a List from `kubectl get nodes,pods -A -o json`", tok))
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
	return d.snap, nil
}

type decoder struct {
	name string
	dec  *json.Decoder
	snap *cluster.Snapshot
}

func (d *decoder) fail(object string, err error) error {
	return &Error{Input: d.name, Offset: d.dec.InputOffset(), Object: object, Err: err}
}

// list decodes one top-level value whose opening token was consumed and
// must have been '{'.
func (d *decoder) list() error {
	kind, sawItems := "", false
	for d.dec.More() {
		keyTok, err := d.dec.Token()
		if err != nil {
			return d.fail("", syntaxHint(err))
		}
		key, _ := keyTok.(string)
		switch key {
		case "kind":
			if err := d.dec.Decode(&kind); err != nil {
				return d.fail("kind", syntaxHint(err))
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
			var skip json.RawMessage
			if err := d.dec.Decode(&skip); err != nil {
				return d.fail(key, syntaxHint(err))
			}
		}
	}
	if _, err := d.dec.Token(); err != nil { // the closing '}'
		return d.fail("", syntaxHint(err))
	}
	if kind == "" || !sawItems {
		return d.fail("", errors.New("not a List: a JSON object without kind and items; want the output of `kubectl get nodes,pods -A -o json`"))
	}
	return nil
}

func describeKind(k string) string {
	if k == "" {
		return "object without kind"
	}
	return k
}

func (d *decoder) items(listKind string) error {
	tok, err := d.dec.Token()
	if err != nil {
		return d.fail("items", syntaxHint(err))
	}
	if tok == nil { // "items": null
		return nil
	}
	if delim, ok := tok.(json.Delim); !ok || delim != '[' {
		return d.fail("items", fmt.Errorf("items must be an array, found %v", tok))
	}
	for i := 0; d.dec.More(); i++ {
		var it item
		if err := d.dec.Decode(&it); err != nil {
			return d.fail(fmt.Sprintf("items[%d]%s", i, it.describe()), syntaxHint(err))
		}
		if err := d.add(&it, listKinds[listKind]); err != nil {
			return d.fail(fmt.Sprintf("items[%d]%s", i, it.describe()), err)
		}
	}
	if _, err := d.dec.Token(); err != nil { // ']'
		return d.fail("items", syntaxHint(err))
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
	}
	// Other kinds (from `kubectl get all`, say) do not bear on node health.
	return nil
}

// syntaxHint makes the standard library's errors read well for a truncated
// file.
func syntaxHint(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errors.New("unexpected end of input (is the file truncated?)")
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("not valid JSON: %v", se)
	}
	return err
}
