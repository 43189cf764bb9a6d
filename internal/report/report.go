// Package report renders what nodewatch's commands find: as text tables for
// people, or as JSON or YAML for programs. Every command goes through Write,
// so -o means the same everywhere.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/yaml"
)

// Format is an output format, as given to -o.
type Format string

// Formats.
const (
	Text Format = "text"
	JSON Format = "json"
	YAML Format = "yaml"
)

// ParseFormat validates an -o value against the formats a command offers.
func ParseFormat(s string, allowed ...Format) (Format, error) {
	if slices.Contains(allowed, Format(s)) {
		return Format(s), nil
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	return "", fmt.Errorf("unknown output format %q: use one of %s", s, strings.Join(names, ", "))
}

// Write renders v in format f; text renders the Text format.
func Write(w io.Writer, f Format, v any, text func(io.Writer) error) error {
	switch f {
	case JSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case YAML:
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	default:
		return text(w)
	}
}

// Bytes formats a byte count the way Kubernetes writes memory (256Mi);
// unset stands for nil.
func Bytes(n *int64, unset string) string {
	if n == nil {
		return unset
	}
	return resource.NewQuantity(*n, resource.BinarySI).String()
}

// Measured formats a measured amount of memory (a working set, a peak)
// rounded for reading: "537Mi", "1.13Gi", "812Ki". Declared amounts
// (requests, limits) use Bytes, which is exact.
func Measured(n int64) string {
	v := float64(n)
	for _, u := range []struct {
		unit string
		size float64
	}{{"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
		if math.Abs(v) >= u.size {
			x := v / u.size
			switch {
			case math.Abs(x) >= 100:
				return fmt.Sprintf("%.0f%s", x, u.unit)
			case math.Abs(x) >= 10:
				return fmt.Sprintf("%.1f%s", x, u.unit)
			}
			return fmt.Sprintf("%.2f%s", x, u.unit)
		}
	}
	return fmt.Sprintf("%d", n)
}

// Since formats a time and how long ago it was, kubectl style:
// "2026-11-29T19:40:00Z (5m12s ago)". Zero or nil reads "-".
func Since(t *time.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return fmt.Sprintf("%s (%s ago)", t.UTC().Format(time.RFC3339), duration.HumanDuration(now.Sub(*t)))
}
