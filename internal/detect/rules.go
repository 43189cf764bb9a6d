// Package detect holds nodewatch's detection rules. Rules are level
// triggered: each evaluation returns every finding that holds now, as a pure
// function of the cluster's cached state and the time (plus the little
// history a rule needs, such as Ready transitions for flapping). The
// incident manager turns the changes between evaluations into incidents, so
// a restart or a missed watch event never loses or repeats a failure.
package detect

import (
	"errors"
	"fmt"
	"time"
)

// Rule names, as they appear in alerts (Alertmanager's alertname).
const (
	NodeNotReady        = "NodeNotReady"
	NodeLeaseStale      = "NodeLeaseStale"
	NodePressure        = "NodePressure"
	NodeDeleted         = "NodeDeleted"
	NodeFlapping        = "NodeFlapping"
	WorkloadFailing     = "WorkloadFailing"
	WorkloadUnavailable = "WorkloadUnavailable"
)

// Severities.
const (
	Critical = "critical"
	Warning  = "warning"
	Info     = "info"
)

// Rules holds every rule's thresholds.
type Rules struct {
	// LeaseRenewInterval is how often kubelets renew their Lease (10s by
	// default in the kubelet); LeaseMissedRenewals of them missed while the
	// node is still Ready raise the early warning.
	LeaseRenewInterval  time.Duration
	LeaseMissedRenewals int
	// FlapTransitions Ready transitions within FlapWindow make a node
	// flapping: one alert instead of a storm.
	FlapTransitions int
	FlapWindow      time.Duration
	// UnschedulableAfter is how long a pod may stay unschedulable before its
	// workload is failing.
	UnschedulableAfter time.Duration
	// UnavailableAfter is how long a workload may run below its desired
	// replicas before an alert.
	UnavailableAfter time.Duration
	// RecentWindow is how recent an OOM kill or eviction must be to count.
	RecentWindow time.Duration
	// WorkloadQuietPeriod is how long a workload must go without failures
	// before its incident resolves (crash loops run between failures).
	WorkloadQuietPeriod time.Duration
}

// DefaultRules returns the documented defaults.
func DefaultRules() Rules {
	return Rules{
		LeaseRenewInterval:  10 * time.Second,
		LeaseMissedRenewals: 3,
		FlapTransitions:     3,
		FlapWindow:          15 * time.Minute,
		UnschedulableAfter:  2 * time.Minute,
		UnavailableAfter:    2 * time.Minute,
		RecentWindow:        10 * time.Minute,
		WorkloadQuietPeriod: 5 * time.Minute,
	}
}

// Validate names every bad field; prefix is the fields' path ("rules").
func (r Rules) Validate(prefix string) error {
	var errs []error
	pos := func(name string, d time.Duration) {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s.%s: must be positive, got %s", prefix, name, d))
		}
	}
	pos("leaseRenewInterval", r.LeaseRenewInterval)
	pos("flapWindow", r.FlapWindow)
	pos("recentWindow", r.RecentWindow)
	if r.UnschedulableAfter < 0 {
		errs = append(errs, fmt.Errorf("%s.unschedulableAfter: must not be negative, got %s", prefix, r.UnschedulableAfter))
	}
	if r.UnavailableAfter < 0 {
		errs = append(errs, fmt.Errorf("%s.unavailableAfter: must not be negative, got %s", prefix, r.UnavailableAfter))
	}
	if r.WorkloadQuietPeriod < 0 {
		errs = append(errs, fmt.Errorf("%s.workloadQuietPeriod: must not be negative, got %s", prefix, r.WorkloadQuietPeriod))
	}
	if r.LeaseMissedRenewals < 1 {
		errs = append(errs, fmt.Errorf("%s.leaseMissedRenewals: must be at least 1, got %d", prefix, r.LeaseMissedRenewals))
	}
	if r.FlapTransitions < 2 {
		errs = append(errs, fmt.Errorf("%s.flapTransitions: must be at least 2, got %d", prefix, r.FlapTransitions))
	}
	return errors.Join(errs...)
}

// Finding is one rule that holds now.
type Finding struct {
	// Key identifies what the finding is about across evaluations; one key
	// is one incident. A node's early warning and its NotReady share the key
	// "node/<name>/down", so the warning escalates into the failure.
	Key      string
	Rule     string
	Severity string
	// Node is set for node findings.
	Node string
	// Workload is set for workload findings ("namespace/Kind/name").
	Workload string
	Reason   string
	Message  string
	// Since is when the condition began, as the cluster reports it.
	Since time.Time
	// Instant findings (a node deleted) happen once: their incident opens
	// and closes at the same time.
	Instant bool
}
