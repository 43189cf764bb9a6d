package store

import (
	"bytes"
	"encoding/json"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

var bEvents = []byte("events")

// Event is a Kubernetes event about a node or pod, kept past the API
// server's one-hour event TTL: incidents need the NodeNotReady, SystemOOM,
// OOMKilling, Evicted and Rebooted events of the minutes before a failure.
type Event struct {
	UID       string    `json:"uid"`
	Kind      string    `json:"kind"`
	Namespace string    `json:"namespace,omitempty"`
	Name      string    `json:"name"`
	Time      time.Time `json:"time"`
	Type      string    `json:"type"`
	Reason    string    `json:"reason"`
	Message   string    `json:"message"`
	Count     int32     `json:"count,omitempty"`
}

// eventKey groups an object's events: kind/namespace/name, NUL, uid. An
// event updated by the API server (count, lastTimestamp) overwrites itself.
func eventKey(kind, namespace, name, uid string) []byte {
	return []byte(kind + "/" + namespace + "/" + name + "\x00" + uid)
}

// SaveEvents stores events in one transaction.
func (db *DB) SaveEvents(evs []Event) error {
	return db.bolt.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bEvents)
		if err != nil {
			return err
		}
		for _, e := range evs {
			v, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if err := b.Put(eventKey(e.Kind, e.Namespace, e.Name, e.UID), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// Events returns an object's events since a time, oldest first.
func (db *DB) Events(kind, namespace, name string, since time.Time) ([]Event, error) {
	var out []Event
	prefix := eventKey(kind, namespace, name, "")
	err := db.bolt.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bEvents)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var e Event
			if json.Unmarshal(v, &e) == nil && !e.Time.Before(since) {
				out = append(out, e)
			}
		}
		return nil
	})
	slices.SortFunc(out, func(a, b Event) int { return a.Time.Compare(b.Time) })
	return out, err
}

// PruneEvents deletes events older than before and says how many.
func (db *DB) PruneEvents(before time.Time) (int, error) {
	n := 0
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bEvents)
		if b == nil {
			return nil
		}
		var old [][]byte
		_ = b.ForEach(func(k, v []byte) error {
			var e Event
			if json.Unmarshal(v, &e) != nil || e.Time.Before(before) {
				old = append(old, append([]byte(nil), k...))
			}
			return nil
		})
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(old)
		return nil
	})
	return n, err
}
