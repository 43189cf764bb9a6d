package history

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/nodewatch/nodewatch/internal/collect"
)

// TestAppendPausesOnAFullDisk: below MinFree free, Append stores nothing
// and says how much is left; with room, it stores.
func TestAppendPausesOnAFullDisk(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{MinFree: math.MaxInt64})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }() // a scratch store: a close error fails no check
	s := []collect.Sample{{Labels: labels.FromStrings("__name__", "x"), T: 1000, V: 1}}
	r, err := db.Append(context.Background(), s)
	var full *DiskFullError
	if !errors.As(err, &full) || r.Appended != 0 || !strings.Contains(err.Error(), "history writes pause below") || full.Free <= 0 {
		t.Fatalf("append on a 'full' disk: %+v, %v", r, err)
	}
	db.minFree = 1
	if r, err := db.Append(context.Background(), s); err != nil || r.Appended != 1 {
		t.Fatalf("append with room: %+v, %v", r, err)
	}
}
