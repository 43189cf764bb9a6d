package app

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/nodewatch/nodewatch/internal/detect"
	"github.com/nodewatch/nodewatch/internal/notify"
)

// metrics are the daemon's own Prometheus metrics.
type metrics struct {
	reg         *prometheus.Registry
	sent        *prometheus.CounterVec
	failed      *prometheus.CounterVec
	dead        *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	stateErrors prometheus.Counter
}

func newMetrics(queued func() map[string]int, sinks []string, open func() int, lastEvent func() time.Time) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nodewatch_notifications_sent_total", Help: "Notifications delivered, by sink.",
		}, []string{"sink"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nodewatch_notifications_failed_total", Help: "Failed delivery attempts, by sink; permanent=true were dropped.",
		}, []string{"sink", "permanent"}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nodewatch_notifications_dead_letters_total",
			Help: "Notifications given up on and kept in the dead letters, by sink and why (rejected, attempts, age).",
		}, []string{"sink", "why"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "nodewatch_detection_latency_seconds",
			Help: "From a node's Ready condition changing (its lastTransitionTime, which the API truncates to whole seconds: " +
				"up to 1 s high) to the NodeNotReady notification being delivered, by sink.",
			Buckets: []float64{.1, .25, .5, 1, 2, 5, 10, 30, 60},
		}, []string{"sink"}),
		stateErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nodewatch_state_write_errors_total", Help: "Failed writes to the data dir (e.g. disk full); the write is retried.",
		}),
	}
	queuedDesc := prometheus.NewDesc("nodewatch_notifications_queued", "Notifications waiting in the outbox, by sink.", []string{"sink"}, nil)
	m.reg.MustRegister(m.sent, m.failed, m.dead, m.latency, m.stateErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nodewatch_open_incidents", Help: "Incidents open now."},
			func() float64 { return float64(open()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "nodewatch_informer_last_event_age_seconds",
			Help: "Seconds since the newest watch event arrived (informer lag: grows while the API server is unreachable).",
		}, func() float64 {
			t := lastEvent()
			if t.IsZero() {
				return -1
			}
			return time.Since(t).Seconds()
		}),
		&funcCollector{desc: queuedDesc, collect: func(ch chan<- prometheus.Metric) {
			q := queued()
			for _, s := range sinks {
				ch <- prometheus.MustNewConstMetric(queuedDesc, prometheus.GaugeValue, float64(q[s]), s)
			}
		}},
	)
	return m
}

// Sent implements outbox.Metrics.
func (m *metrics) Sent(sink string, msg *notify.Message, at time.Time) {
	m.sent.WithLabelValues(sink).Inc()
	if msg.Rule != detect.NodeNotReady || msg.Status != notify.Firing {
		return
	}
	for _, n := range msg.Nodes {
		if n.Since != nil {
			m.latency.WithLabelValues(sink).Observe(at.Sub(*n.Since).Seconds())
		}
	}
}

// Failed implements outbox.Metrics.
func (m *metrics) Failed(sink string, permanent bool) {
	p := "false"
	if permanent {
		p = "true"
	}
	m.failed.WithLabelValues(sink, p).Inc()
}

// Dead implements outbox.Metrics.
func (m *metrics) Dead(sink, why string) { m.dead.WithLabelValues(sink, why).Inc() }

type funcCollector struct {
	desc    *prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (f *funcCollector) Describe(ch chan<- *prometheus.Desc) { ch <- f.desc }
func (f *funcCollector) Collect(ch chan<- prometheus.Metric) { f.collect(ch) }
