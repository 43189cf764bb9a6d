package store

import (
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/nodewatch/nodewatch/internal/incident"
	"github.com/nodewatch/nodewatch/internal/notify/outbox"
)

// Pruned counts what Prune removed.
type Pruned struct {
	Incidents, Delivered, Dead int
}

// Prune removes what is older than before: resolved incidents that ended
// before it and owe no message, the keys of messages delivered before it,
// and dead letters queued before it. Open incidents and queued messages
// are never pruned. Without it the file grows by every incident for ever.
func (db *DB) Prune(before time.Time) (Pruned, error) {
	var p Pruned
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		var err error
		open := map[string]bool{}
		_ = tx.Bucket(bOpen).ForEach(func(_, id []byte) error { open[string(id)] = true; return nil })
		owed := tx.Bucket(bOwed)
		if p.Incidents, err = deleteWhere(tx.Bucket(bIncidents), func(k, v []byte) bool {
			if open[string(k)] || owed.Get(k) != nil {
				return false
			}
			var i incident.Incident
			if json.Unmarshal(v, &i) != nil {
				return false // kept: someone may want to read it
			}
			return i.Status != incident.Open && i.End != nil && i.End.Before(before)
		}); err != nil {
			return err
		}
		if p.Delivered, err = deleteWhere(tx.Bucket(bDelivered), func(_, v []byte) bool {
			at, err := time.Parse(time.RFC3339Nano, string(v))
			return err == nil && at.Before(before)
		}); err != nil {
			return err
		}
		p.Dead, err = deleteWhere(tx.Bucket(bDead), func(_, v []byte) bool {
			var e outbox.Entry
			return json.Unmarshal(v, &e) == nil && e.Created.Before(before)
		})
		return err
	})
	return p, err
}

// deleteWhere deletes the keys of b for which old holds.
func deleteWhere(b *bolt.Bucket, old func(k, v []byte) bool) (int, error) {
	var keys [][]byte
	_ = b.ForEach(func(k, v []byte) error {
		if old(k, v) {
			keys = append(keys, append([]byte(nil), k...))
		}
		return nil
	})
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}
