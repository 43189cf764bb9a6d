package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/nodewatch/nodewatch/internal/incident"
	"github.com/nodewatch/nodewatch/internal/notify"
	"github.com/nodewatch/nodewatch/internal/notify/outbox"
)

var (
	bIncidents = []byte("incidents")
	bOpen      = []byte("open")
	bOutbox    = []byte("outbox")
	bDelivered = []byte("delivered")
	bDead      = []byte("dead")
	bOwed      = []byte("owed")
)

// FileName is the database's name in the data dir.
const FileName = "nodewatch.db"

// ErrLocked means another process (a running daemon) holds the data dir.
var ErrLocked = errors.New("the data dir is in use by a running nodewatch")

// DB is the state store.
type DB struct {
	bolt  *bolt.DB
	sinks []string
	now   func() time.Time
}

var (
	_ incident.Persister = (*DB)(nil)
	_ outbox.Queue       = (*DB)(nil)
)

// Open opens (creating) the store in dir. sinks are the names messages are
// queued for. readOnly opens without the write lock, failing with ErrLocked
// if a daemon holds it.
func Open(dir string, sinks []string, readOnly bool) (*DB, error) {
	path := filepath.Join(dir, FileName)
	if readOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("no nodewatch data in %s: %w", dir, err)
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the data dir: %w", err)
	}
	b, err := openChecked(path, readOnly)
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, err
	}
	db := &DB{bolt: b, sinks: sinks, now: time.Now}
	if readOnly {
		return db, nil
	}
	err = b.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bIncidents, bOpen, bOutbox, bDelivered, bDead, bOwed} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = b.Close() // the initialisation error is the one to report
		return nil, fmt.Errorf("initialising %s: %w", path, err)
	}
	return db, nil
}

// openChecked opens the bbolt file and checks every page once: bbolt
// panics on a damaged page it meets later (a disk error, a file copied
// while written), and a daemon that panics at its first alert is worse
// than one that refuses to start with an error saying what to do. The
// check reads the whole file: milliseconds for a state file of a few MB.
func openChecked(path string, readOnly bool) (b *bolt.DB, err error) {
	corrupt := func(why any) error {
		return fmt.Errorf("%s is corrupt (%v): move it aside (mv %s %s.corrupt) and start nodewatch again — "+
			"it starts with no incident history and an empty outbox (the resource history is kept); "+
			"meanwhile `nodewatch run --data-dir` on an empty directory alerts as usual", path, why, path, path)
	}
	defer func() {
		if r := recover(); r != nil {
			if b != nil {
				_ = b.Close()
			}
			b, err = nil, corrupt(r)
		}
	}()
	b, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: readOnly})
	if err != nil {
		if errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrChecksum) || errors.Is(err, berrors.ErrVersionMismatch) {
			return nil, corrupt(err)
		}
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	err = b.View(func(tx *bolt.Tx) error {
		var errs []error
		for e := range tx.Check() {
			errs = append(errs, e)
		}
		return errors.Join(errs...)
	})
	if err != nil {
		_ = b.Close()
		return nil, corrupt(err)
	}
	return b, nil
}

// Close closes the file.
func (db *DB) Close() error { return db.bolt.Close() }

// Unfinished implements incident.Persister: the incidents still open and
// the resolved ones still owed a message.
func (db *DB) Unfinished() ([]*incident.Incident, error) {
	var out []*incident.Incident
	seen := map[string]bool{}
	err := db.bolt.View(func(tx *bolt.Tx) error {
		inc := tx.Bucket(bIncidents)
		load := func(id []byte) error {
			if seen[string(id)] {
				return nil
			}
			seen[string(id)] = true
			var i incident.Incident
			if err := json.Unmarshal(inc.Get(id), &i); err != nil {
				return fmt.Errorf("incident %s: %w", id, err)
			}
			out = append(out, &i)
			return nil
		}
		if err := tx.Bucket(bOpen).ForEach(func(_, id []byte) error { return load(id) }); err != nil {
			return err
		}
		if b := tx.Bucket(bOwed); b != nil { // a file from before owed messages were kept
			return b.ForEach(func(id, _ []byte) error { return load(id) })
		}
		return nil
	})
	return out, err
}

// Incidents returns every incident, newest first.
func (db *DB) Incidents() ([]incident.Incident, error) {
	var out []incident.Incident
	err := db.bolt.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bIncidents)
		if b == nil {
			return nil
		}
		return b.ForEach(func(id, v []byte) error {
			var i incident.Incident
			if err := json.Unmarshal(v, &i); err != nil {
				return fmt.Errorf("incident %s: %w", id, err)
			}
			out = append(out, i)
			return nil
		})
	})
	slices.SortFunc(out, func(a, b incident.Incident) int { return b.Start.Compare(a.Start) })
	return out, err
}

// Commit saves incidents and queues messages for every sink, atomically.
func (db *DB) Commit(incs []*incident.Incident, msgs []*notify.Message) error {
	now := db.now()
	return db.bolt.Update(func(tx *bolt.Tx) error {
		ib, ob, owed := tx.Bucket(bIncidents), tx.Bucket(bOpen), tx.Bucket(bOwed)
		for _, inc := range incs {
			v, err := json.Marshal(inc)
			if err != nil {
				return err
			}
			if err := ib.Put([]byte(inc.ID), v); err != nil {
				return err
			}
			if inc.Status == incident.Open {
				err = ob.Put([]byte(inc.Key), []byte(inc.ID))
			} else if string(ob.Get([]byte(inc.Key))) == inc.ID {
				err = ob.Delete([]byte(inc.Key))
			}
			if err != nil {
				return err
			}
			if len(inc.Owed) > 0 {
				err = owed.Put([]byte(inc.ID), nil)
			} else {
				err = owed.Delete([]byte(inc.ID))
			}
			if err != nil {
				return err
			}
		}
		out, del := tx.Bucket(bOutbox), tx.Bucket(bDelivered)
		queued := map[string]bool{}
		_ = out.ForEach(func(_, v []byte) error {
			var e outbox.Entry
			if json.Unmarshal(v, &e) == nil && e.Message != nil {
				queued[deliveredKey(e.Sink, e.Message.Key)] = true
			}
			return nil
		})
		for _, m := range msgs {
			for _, sink := range db.sinks {
				dk := deliveredKey(sink, m.Key)
				if queued[dk] || del.Get([]byte(dk)) != nil {
					continue
				}
				seq, err := out.NextSequence()
				if err != nil {
					return err
				}
				v, err := json.Marshal(outbox.Entry{Seq: seq, Sink: sink, Message: m, Created: now, NextAttempt: now})
				if err != nil {
					return err
				}
				if err := out.Put(seqKey(seq), v); err != nil {
					return err
				}
				queued[dk] = true
			}
		}
		return nil
	})
}

// Due implements outbox.Queue: the sink's entries whose next attempt has
// come, in queue order, but none queued behind an earlier one about the
// same incident that is still waiting (an incident's messages keep their
// order; a message the receiver keeps refusing holds up no other incident's).
func (db *DB) Due(sink string, now time.Time, limit int) ([]outbox.Entry, error) {
	var out []outbox.Entry
	err := db.bolt.View(func(tx *bolt.Tx) error {
		waiting := map[string]bool{} // incidents with an entry not due yet
		c := tx.Bucket(bOutbox).Cursor()
		for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
			var e outbox.Entry
			if err := json.Unmarshal(v, &e); err != nil || e.Message == nil {
				continue // unreadable entries are skipped, not fatal
			}
			if e.Sink != sink {
				continue
			}
			g := outbox.GroupOf(e.Message)
			if waiting[g] || e.NextAttempt.After(now) {
				waiting[g] = true
				continue
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// Pending counts queued entries per sink.
func (db *DB) Pending() (map[string]int, error) {
	n := map[string]int{}
	err := db.bolt.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bOutbox).ForEach(func(_, v []byte) error {
			var e outbox.Entry
			if json.Unmarshal(v, &e) == nil {
				n[e.Sink]++
			}
			return nil
		})
	})
	return n, err
}

// Delivered implements outbox.Queue.
func (db *DB) Delivered(e outbox.Entry, at time.Time) error {
	return db.bolt.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bOutbox).Delete(seqKey(e.Seq)); err != nil {
			return err
		}
		return tx.Bucket(bDelivered).Put([]byte(deliveredKey(e.Sink, e.Message.Key)), []byte(at.UTC().Format(time.RFC3339Nano)))
	})
}

// Retry implements outbox.Queue.
func (db *DB) Retry(e outbox.Entry) error {
	return db.put(bOutbox, e)
}

// Drop implements outbox.Queue.
func (db *DB) Drop(e outbox.Entry) error {
	return db.bolt.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bOutbox).Delete(seqKey(e.Seq)); err != nil {
			return err
		}
		v, err := json.Marshal(e)
		if err != nil {
			return err
		}
		return tx.Bucket(bDead).Put(seqKey(e.Seq), v)
	})
}

func (db *DB) put(bucket []byte, e outbox.Entry) error {
	v, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return db.bolt.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put(seqKey(e.Seq), v) })
}

func seqKey(seq uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	return k
}

func deliveredKey(sink, key string) string { return sink + "\x00" + key }
