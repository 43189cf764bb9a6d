// Package history keeps the resource history — every container's memory and
// CPU, every node's memory and major page faults — in Prometheus' own TSDB,
// used as a library, in <data dir>/tsdb: Gorilla-compressed chunks (about
// 1–2 bytes a sample after compaction), a write-ahead log replayed on start
// (a SIGKILL loses at most what was not yet committed, and a torn WAL tail
// is repaired, keeping what is intact), retention by time and size. Queries
// go through Prometheus' PromQL engine, so users' PromQL carries over.
//
// Besides the raw series, the store holds Downsample's 5-minute aggregates
// (Aggregates), named as recording rules, at each window's end. The sparse
// ones (`nodewatch:container_cpu_usage:resets5m`,
// `nodewatch:container_oom_events:increase5m`) exist only where their value
// is above 0; SparseMarker, one series, says for which windows they were
// computed — before its first sample (data dirs of older versions) an
// absent sample means "not computed", not 0.
package history

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/util/compression"

	"github.com/nodewatch/nodewatch/internal/collect"
)

// Options configure the store.
type Options struct {
	// Retention drops blocks older than this (default 14 days).
	Retention time.Duration
	// MaxBytes caps the size on disk (0: no cap).
	MaxBytes int64
	// MinFree pauses appends while the disk holding the store has less
	// than this many bytes available (0: no check); see DiskFullError.
	MinFree int64
	Log     *slog.Logger
}

// DB is the history store.
type DB struct {
	tsdb   *tsdb.DB
	engine *promql.Engine
	// lastWindow is the newest downsampled window written (see Downsample).
	lastWindow time.Time
	dir        string
	minFree    int64
}

// Open opens (creating) the store under dataDir.
func Open(dataDir string, o Options) (*DB, error) {
	if o.Retention <= 0 {
		o.Retention = 14 * 24 * time.Hour
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	opts := tsdb.DefaultOptions()
	opts.RetentionDuration = o.Retention.Milliseconds()
	opts.MaxBytes = o.MaxBytes
	// Merge the 2-hour blocks into larger ones as Prometheus does (its
	// --storage.tsdb.max-block-duration default: a tenth of the retention,
	// at most 31 days); left at the library's default, 14 days stay 168
	// blocks, and a query over them pays for each.
	opts.MaxBlockDuration = min(o.Retention/10, 31*24*time.Hour).Milliseconds()
	opts.WALCompression = compression.Snappy
	// Sharded selects (storage.SelectHints.ShardCount): the history rules
	// read the working sets in one shard per CPU. It costs the head a hash
	// per new series.
	opts.EnableSharding = true
	// One chunk per series per 2-hour block at the default 30 s interval
	// (the library cuts at 120 samples, sized for 15 s scrapes): half the
	// chunk headers and index entries, 2.15 → 1.97 bytes per sample on
	// disk, for up to 240 B more per series in the open head chunk.
	opts.SamplesPerChunk = 240
	// Downsampled aggregates are written for windows up to a day old after
	// a restart (see Downsample): accept samples that far behind the head.
	opts.OutOfOrderTimeWindow = (24 * time.Hour).Milliseconds()
	dir := filepath.Join(dataDir, "tsdb")
	db, err := tsdb.Open(dir, o.Log.With("component", "tsdb"), nil, opts, nil)
	if err != nil {
		return nil, fmt.Errorf("opening the history in %s: %w", dir, err)
	}
	engine := promql.NewEngine(promql.EngineOpts{
		Logger: o.Log.With("component", "promql"), MaxSamples: 50_000_000, Timeout: 2 * time.Minute,
		LookbackDelta: 5 * time.Minute, EnableAtModifier: true, EnableNegativeOffset: true,
		NoStepSubqueryIntervalFn: subqueryStep,
	})
	return &DB{tsdb: db, engine: engine, dir: dir, minFree: o.MinFree}, nil
}

// Compact compacts the head into blocks now (tests and benchmarks: the
// store does it on its own every minute).
func (db *DB) Compact(ctx context.Context) error { return db.tsdb.Compact(ctx) }

// Close flushes and closes.
func (db *DB) Close() error { return db.tsdb.Close() }

// AppendResult counts an append's outcome.
type AppendResult struct {
	Appended int
	// Duplicates are samples already stored (a kubelet that repeats its
	// timestamps between scrapes); OutOfOrder are older than what is stored.
	Duplicates, OutOfOrder int
}

// Append stores samples in one transaction. On a disk with less than
// Options.MinFree left it stores nothing and returns a *DiskFullError.
func (db *DB) Append(ctx context.Context, samples []collect.Sample) (AppendResult, error) {
	var r AppendResult
	if err := checkFree(db.dir, db.minFree); err != nil {
		return r, err
	}
	app := db.tsdb.Appender(ctx)
	for _, s := range samples {
		_, err := app.Append(0, s.Labels, s.T, s.V)
		switch {
		case err == nil:
			r.Appended++
		case errors.Is(err, storage.ErrDuplicateSampleForTimestamp):
			r.Duplicates++
		case errors.Is(err, storage.ErrOutOfOrderSample), errors.Is(err, storage.ErrTooOldSample), errors.Is(err, storage.ErrOutOfBounds):
			r.OutOfOrder++
		default:
			_ = app.Rollback()
			return r, fmt.Errorf("appending %s: %w", s.Labels, err)
		}
	}
	if err := app.Commit(); err != nil {
		return r, fmt.Errorf("committing %d samples: %w", r.Appended, err)
	}
	return r, nil
}

// Queryable is the store for PromQL and series lookups.
func (db *DB) Queryable() storage.Queryable { return db.tsdb }

// Engine is the PromQL engine.
func (db *DB) Engine() *promql.Engine { return db.engine }

// Query evaluates an instant query.
func (db *DB) Query(ctx context.Context, q string, at time.Time) (parser.Value, error) {
	return db.query(ctx, db.engine, q, at)
}

func (db *DB) query(ctx context.Context, engine *promql.Engine, q string, at time.Time) (parser.Value, error) {
	qry, err := engine.NewInstantQuery(ctx, db.tsdb, nil, q, at)
	if err != nil {
		return nil, err
	}
	defer qry.Close()
	res := qry.Exec(ctx)
	return detach(res.Value), res.Err
}

// QueryRange evaluates a range query.
func (db *DB) QueryRange(ctx context.Context, q string, start, end time.Time, step time.Duration) (parser.Value, error) {
	return db.queryRange(ctx, db.engine, q, start, end, step)
}

func (db *DB) queryRange(ctx context.Context, engine *promql.Engine, q string, start, end time.Time, step time.Duration) (parser.Value, error) {
	qry, err := engine.NewRangeQuery(ctx, db.tsdb, nil, q, start, end, step)
	if err != nil {
		return nil, err
	}
	defer qry.Close()
	res := qry.Exec(ctx)
	return detach(res.Value), res.Err
}

// detach copies a result out of the engine's pools: Close hands its point
// slices back for the next query to reuse.
func detach(v parser.Value) parser.Value {
	switch v := v.(type) {
	case promql.Vector:
		return slices.Clone(v)
	case promql.Matrix:
		out := make(promql.Matrix, len(v))
		for i, s := range v {
			out[i] = promql.Series{Metric: s.Metric, Floats: slices.Clone(s.Floats), Histograms: slices.Clone(s.Histograms), DropName: s.DropName}
		}
		return out
	}
	return v
}

// Series returns the label sets of the series matching any of the matchers.
func (db *DB) Series(ctx context.Context, start, end time.Time, matchers ...[]*labels.Matcher) ([]labels.Labels, error) {
	q, err := db.tsdb.Querier(start.UnixMilli(), end.UnixMilli())
	if err != nil {
		return nil, err
	}
	defer func() { _ = q.Close() }() // a querier only reads: its close error loses nothing
	var out []labels.Labels
	seen := map[uint64]bool{}
	for _, ms := range matchers {
		set := q.Select(ctx, false, &storage.SelectHints{Start: start.UnixMilli(), End: end.UnixMilli(), Func: "series"}, ms...)
		for set.Next() {
			l := set.At().Labels()
			if h := l.Hash(); !seen[h] {
				seen[h] = true
				out = append(out, l)
			}
		}
		if err := set.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// LabelNames returns every label name in the time range.
func (db *DB) LabelNames(ctx context.Context, start, end time.Time) ([]string, error) {
	q, err := db.tsdb.Querier(start.UnixMilli(), end.UnixMilli())
	if err != nil {
		return nil, err
	}
	defer func() { _ = q.Close() }() // a querier only reads: its close error loses nothing
	names, _, err := q.LabelNames(ctx, nil)
	return names, err
}
