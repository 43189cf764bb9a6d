package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"
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

// EnvNodewatchURL names the running daemon for every command that reads
// from it, as --nodewatch-url does.
const EnvNodewatchURL = "NODEWATCH_URL"

// nodewatchURLVar binds --nodewatch-url: the running daemon's address
// (default $NODEWATCH_URL, else http://127.0.0.1:8080). --server, its
// name before, is kept as a deprecated alias for one release: every
// kubectl user reads --server as the API server's.
func (g *globals) nodewatchURLVar(f *pflag.FlagSet, p *string, usage string) {
	def := "http://127.0.0.1:8080"
	if g.getenv != nil {
		if v := g.getenv(EnvNodewatchURL); v != "" {
			def = v
		}
	}
	f.StringVar(p, "nodewatch-url", def, usage+" (default $"+EnvNodewatchURL+")")
	f.StringVar(p, "server", def, "deprecated: --nodewatch-url")
	_ = f.MarkDeprecated("server", "use --nodewatch-url (--server names the API server in kubectl)")
}

// bytesPerHour is a growth-rate flag in units a user reads: "5Mi/h",
// "100MiB/h", "1Gi/h" (Kubernetes quantities, MiB taken as Mi), or a
// plain number of bytes per hour; it prints as the former.
type bytesPerHour struct{ p *float64 }

func (f bytesPerHour) String() string {
	if f.p == nil {
		return ""
	}
	q := resource.NewQuantity(int64(*f.p), resource.BinarySI)
	return q.String() + "/h"
}
func (f bytesPerHour) Type() string { return "bytes/h" }
func (f bytesPerHour) Set(s string) error {
	v := strings.TrimSuffix(strings.TrimSpace(s), "/h")
	v = strings.Replace(strings.Replace(v, "iB", "i", 1), "B", "", 1)
	q, err := resource.ParseQuantity(v)
	if err != nil || q.Sign() < 0 {
		return fmt.Errorf("%q is not a growth rate such as 5Mi/h, 100MiB/h or 1Gi/h", s)
	}
	*f.p = q.AsApproximateFloat64()
	return nil
}
