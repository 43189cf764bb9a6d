package leak

import (
	"fmt"
	"time"

	"github.com/prometheus/common/model"
)

// Query is the PromQL that reads a working set for Analyze through a range
// query with this step: the samples themselves (the largest in each step),
// not a plain selector's lookback, which repeats a series' last value for
// 5 minutes after it ends — a leaking pod killed with its node would look
// like a warm-up plateau, and a workload moving from pod to pod like a
// series of them.
func Query(selector string, step time.Duration) string {
	return fmt.Sprintf("max_over_time(%s[%s])", selector, model.Duration(max(step, time.Millisecond)))
}
