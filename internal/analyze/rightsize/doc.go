// Package rightsize recommends a container's memory request, memory limit
// and CPU request (and, when asked, CPU limit) from its usage history, as
// pure functions of the samples given: no clock, no globals.
//
// The history of a workload's container is pooled over its pods — replicas
// of a Deployment, and every run of a Job or CronJob (Input.Batch), so short
// runs count as much as their minutes of life. Then:
//
//   - Leaks first. A container whose working set grows without bound has no
//     right size: any limit is reached eventually. Each pod's series is
//     judged by package leak (Theil–Sen slope + Mann–Kendall test across
//     restarts); for batch workloads, whose every run grows and ends, the
//     series judged is each run's peak, so a run that fills up and finishes
//     is not a leak but runs that peak higher and higher are. A leak gets
//     Leak = true and no size.
//   - Memory request: the RequestPercentile (p90) of the pooled samples plus
//     RequestMargin (10%). Samples are evenly spaced, so this is a share of
//     running time: the request covers what the container uses 90% of the
//     time. A spiky workload thus gets a request near its steady level, not
//     at the spike; its spikes are what the limit is for.
//   - Memory limit: the observed peak plus LimitHeadroom (25%, at least
//     LimitMinHeadroom). Memory is not compressible: above the limit the
//     kernel kills, so the limit is set from the peak, never a percentile.
//   - Burst tail. The next burst can be larger than any seen. Excursions
//     above the request are bursts (peaks over threshold); the heights of
//     those above the median burst are taken as exponential, their mean at
//     its upper TailConfidence (90%) bound, and the limit is raised to the
//     level a burst exceeds with probability TailRisk (1%) within
//     TailHorizon (30 days) when that is above the peak plus headroom
//     (burstTail; Recommendation.TailLimit). Steady and smoothly cycling
//     workloads have no bursts to speak of and keep the peak plus headroom.
//   - OOM kills. A container killed at its limit was never seen above it:
//     its history is censored at the limit, and the true peak is unknown but
//     higher. Kills less than OOMEpisodeGap apart are one episode (a crash
//     loop is one piece of evidence, not fifty); each episode's level is the
//     limit in force (or, without one, the highest sample in the episode).
//     The peak used for the limit becomes level × OOMBump^n (at least
//     level + OOMMinBump), where n counts the episodes at the highest level,
//     and never more than level × MaxOOMBump. So an OOM raises the limit once
//     per episode by a bounded factor; repeated kills at the same ceiling
//     escalate, but only up to the cap, and a kill at a raised limit starts
//     again from that limit. This avoids the loop VPA users report, where each
//     OOM adds a bumped sample to a histogram whose percentile is then
//     multiplied again, so a cap below the real peak means evictions for ever
//     and recommendations that climb without evidence: here the bump is a
//     function of the evidence (the levels of the kills), not of its own
//     previous output, and when the cap is reached the result says so
//     (OOMCapped) with low confidence instead of climbing further. A restart
//     not reported as an OOM kill counts as one when the last sample before
//     it was within 10% of the limit in force.
//   - CPU request: the CPUPercentile (p90) of the CPU samples (cores). CPU is
//     compressible: above its request a container only loses its share under
//     contention, so no margin is added. A CPU limit (only when
//     Options.CPULimit) is the CPU peak plus LimitHeadroom.
//   - Confidence from the amount of history: the span covered against
//     FullSpan (7 days: a week shows the daily and weekly cycles), times the
//     share of that span actually sampled (gaps lower it); for batch
//     workloads, the number of runs against FullRuns instead of the density.
//     High ≥ 0.75, medium ≥ 0.4, low below; a capped OOM bump is low.
//
// Too little history (MinSamples, MinSpan) gets Enough = false and a reason,
// never a guess. Bad samples (NaN, ±Inf, negative) are dropped.
//
// The reasoning, and the evaluation against VPA's recommender and KRR's
// simple strategy on synthetic traces, are in docs/recommend.md and
// docs/recommend-eval.md; package eval replays them.
package rightsize
