// Package store keeps nodewatch's state in the data dir, in one bbolt file
// (nodewatch.db) — a battle-tested embedded B+tree with ACID transactions
// and crash safety: a SIGKILL loses nothing that was committed.
//
// Buckets:
//
//	incidents   id → Incident (JSON)
//	open        incident key → id, for the incidents still open
//	outbox      sequence (8 bytes, big endian) → outbox.Entry (JSON), in send order
//	delivered   sink + "\x00" + message key → delivery time (RFC 3339)
//	dead        sequence → outbox.Entry the receiver rejected for good
//
// Incidents and the messages about them are written in one transaction, so
// a message is queued exactly when its incident changes. A message whose
// (sink, key) is queued or was delivered is not queued again: a restart
// that re-detects an open incident resends nothing.
//
// The daemon holds the file's lock; `nodewatch incidents` reads through the
// daemon's HTTP API while it runs and opens the file read-only otherwise.
package store
