package history

import (
	"fmt"
	"syscall"
)

// DiskFullError is an append refused because the disk holding the history
// has less than Options.MinFree left. The store's own writes would fail on
// a truly full disk in places that cannot fail cleanly (Prometheus' TSDB
// panics when it cannot write a head chunk), so appends stop first, while
// compaction and the data dir's other files still have room.
type DiskFullError struct {
	Dir           string
	Free, MinFree int64
}

func (e *DiskFullError) Error() string {
	return fmt.Sprintf("only %s free on the disk of %s: history writes pause below %s (history.minFreeBytes)",
		mib(e.Free), e.Dir, mib(e.MinFree))
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// checkFree returns a *DiskFullError when dir's filesystem has less than
// minFree bytes available to nodewatch; nil when it has room, when minFree
// is 0, or when the filesystem cannot say.
func checkFree(dir string, minFree int64) error {
	if minFree <= 0 {
		return nil
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return nil
	}
	if free := int64(st.Bavail) * int64(st.Bsize); free < minFree { //nolint:gosec // G115: a file system's free bytes fit in int64 (8 EiB)
		return &DiskFullError{Dir: dir, Free: free, MinFree: minFree}
	}
	return nil
}
