package cli

import (
	"fmt"
	"time"

	"github.com/prometheus/common/model"
	"github.com/spf13/pflag"
)

// parseDays reads a duration that may also be in days and weeks (7d, 2w),
// as Prometheus writes them, or in Go's units (90m, 1h30m).
func parseDays(s string) (time.Duration, error) {
	if v, err := model.ParseDuration(s); err == nil {
		return time.Duration(v), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (use e.g. 90m, 6h, 7d)", s)
	}
	return d, nil
}

// dayDuration is a time.Duration flag that takes parseDays' forms: every
// command's --since is one, so `--since 7d` means the same everywhere.
type dayDuration struct{ d *time.Duration }

func (f dayDuration) String() string {
	if f.d == nil {
		return ""
	}
	return days(*f.d).String()
}
func (f dayDuration) Type() string { return "duration" }
func (f dayDuration) Set(s string) error {
	d, err := parseDays(s)
	if err != nil {
		return err
	}
	*f.d = d
	return nil
}

// sinceVar binds a --since-like flag with its default.
func sinceVar(f *pflag.FlagSet, p *time.Duration, name string, def time.Duration, usage string) {
	*p = def
	f.Var(dayDuration{p}, name, usage)
}
