package history

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
)

// QueryLimits bound what one PromQL query may cost, as Prometheus'
// --query.max-samples and --query.timeout do.
type QueryLimits struct {
	// MaxSamples is how many samples a query may hold in memory at once.
	MaxSamples int
	// Timeout ends a query that runs longer.
	Timeout time.Duration
	// MaxSteps caps the points one evaluation computes per series: a
	// range query's steps times those of every subquery it holds. The
	// engine allocates per step before MaxSamples can stop it: at 50 ms
	// steps over 30 days, a GB for vector(1) alone.
	MaxSteps int64
}

// DefaultQueryLimits are sized to a pod with a few hundred MB of memory: 5
// million samples are about 80 MB of points (Prometheus' default, 50
// million, let one request grow the daemon by 3.5 GB).
var DefaultQueryLimits = QueryLimits{MaxSamples: 5_000_000, Timeout: 30 * time.Second, MaxSteps: 1_000_000}

// Bounded reads the same store with PromQL queries bounded by its limits:
// what the HTTP API serves to anyone who can reach it. The daemon's own
// analyses use the store directly.
type Bounded struct {
	*DB
	engine *promql.Engine
	limits QueryLimits
}

// Bounded returns the store read with queries bounded by l.
func (db *DB) Bounded(l QueryLimits, log *slog.Logger) *Bounded {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Bounded{DB: db, engine: promql.NewEngine(promql.EngineOpts{
		Logger: log.With("component", "promql"), MaxSamples: l.MaxSamples, Timeout: l.Timeout,
		LookbackDelta: 5 * time.Minute, EnableAtModifier: true, EnableNegativeOffset: true,
		NoStepSubqueryIntervalFn: subqueryStep,
	}), limits: l}
}

// Query evaluates an instant query within the limits.
func (b *Bounded) Query(ctx context.Context, q string, at time.Time) (parser.Value, error) {
	if err := b.check(q, 1); err != nil {
		return nil, err
	}
	return b.query(ctx, b.engine, q, at)
}

// QueryRange evaluates a range query within the limits.
func (b *Bounded) QueryRange(ctx context.Context, q string, start, end time.Time, step time.Duration) (parser.Value, error) {
	if step <= 0 {
		return nil, errors.New("step must be positive")
	}
	if err := b.check(q, int64(end.Sub(start)/step)+1); err != nil {
		return nil, err
	}
	return b.queryRange(ctx, b.engine, q, start, end, step)
}

// ErrTooManySteps refuses a query that would evaluate too many points.
var ErrTooManySteps = errors.New("query would evaluate too many steps")

// check refuses q when it would evaluate more than MaxSteps points per
// series, outer being the query's own steps.
func (b *Bounded) check(q string, outer int64) error {
	if b.limits.MaxSteps <= 0 {
		return nil
	}
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(q)
	if err != nil {
		return err // the engine says it again, as Prometheus words it
	}
	if n := maxSteps(expr, outer); n > b.limits.MaxSteps {
		return fmt.Errorf("%w: %d points per series, at most %d; use a coarser step (query_range) or subquery resolution ([range:step])",
			ErrTooManySteps, n, b.limits.MaxSteps)
	}
	return nil
}

// maxSteps is the most points one series is evaluated at: outer times the
// steps of every subquery enclosing the deepest one (saturating).
func maxSteps(expr parser.Expr, outer int64) int64 {
	most := outer
	parser.Inspect(expr, func(n parser.Node, path []parser.Node) error {
		sq, ok := n.(*parser.SubqueryExpr)
		if !ok {
			return nil
		}
		total := mulSat(outer, subSteps(sq))
		for _, p := range path {
			if s, ok := p.(*parser.SubqueryExpr); ok {
				total = mulSat(total, subSteps(s))
			}
		}
		most = max(most, total)
		return nil
	})
	return most
}

func subSteps(s *parser.SubqueryExpr) int64 {
	step := s.Step
	if step <= 0 {
		step = time.Duration(subqueryStep(s.Range.Milliseconds())) * time.Millisecond
	}
	if s.RangeExpr != nil || s.StepExpr != nil {
		return math.MaxInt64 // computed durations: not bounded here, refused
	}
	return int64(s.Range/step) + 1
}

func mulSat(a, b int64) int64 {
	if a != 0 && b > math.MaxInt64/a {
		return math.MaxInt64
	}
	return a * b
}

// subqueryStep is a subquery's resolution when it names none
// ([1h:]): Prometheus' default global evaluation interval, a minute.
func subqueryStep(int64) int64 { return time.Minute.Milliseconds() }
