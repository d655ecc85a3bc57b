package collector

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"

	"github.com/tcp-verdict/tcp_verdict_exporter/config"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// Namespace prefixes the exporter's own metrics.
const Namespace = "tcp_verdict_exporter"

// Reasons a /probe request is rejected without a probe, the values of
// probes_rejected_total's reason label. The set is fixed, so that every
// series exists from the start and the label stays bounded.
const (
	RejectPolicy        = "policy"         // the target policy refused an address (403)
	RejectOverloaded    = "overloaded"     // too many probes in flight (503)
	RejectDebugDisabled = "debug_disabled" // debug=true under --web.disable-debug (403)
)

// RejectReasons lists every reason, in the order the series are created.
var RejectReasons = []string{RejectPolicy, RejectOverloaded, RejectDebugDisabled}

// Exporter holds the metrics about the exporter itself, served on /metrics.
type Exporter struct {
	probes   *prometheus.CounterVec
	rejected *prometheus.CounterVec
	inFlight prometheus.Gauge

	mu          sync.Mutex
	seenModules map[string]bool
}

// NewExporter registers the exporter's own metrics, build info, and the Go
// and process collectors on reg.
func NewExporter(reg prometheus.Registerer, store *config.Store) *Exporter {
	e := &Exporter{
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "probes_total",
			Help: "Probes run, by module and verdict class.",
		}, []string{"module", "class"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "probes_rejected_total",
			Help: "Probe requests answered without a probe, by reason: policy (403, the target policy refused the target), debug_disabled (403, debug=true under --web.disable-debug) or overloaded (503).",
		}, []string{"reason"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "probes_in_flight",
			Help: "Probes running now.",
		}),
		seenModules: map[string]bool{},
	}
	for _, r := range RejectReasons {
		e.rejected.WithLabelValues(r)
	}
	reg.MustRegister(
		e.probes,
		e.rejected,
		e.inFlight,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "config_last_reload_successful",
			Help: "Whether the last configuration reload attempt was successful.",
		}, func() float64 { return boolValue(store.LastReloadSuccessful()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "config_last_reload_success_timestamp_seconds",
			Help: "Timestamp of the last successful configuration reload.",
		}, func() float64 { return float64(store.LastSuccessUnix()) }),
		versioncollector.NewCollector(Namespace),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return e
}

// CountProbe counts a finished probe. The first probe of a module creates
// its series for every class, so rate() works from the first change.
func (e *Exporter) CountProbe(module string, class verdict.Class) {
	e.mu.Lock()
	if !e.seenModules[module] {
		e.seenModules[module] = true
		for _, c := range verdict.Classes {
			e.probes.WithLabelValues(module, string(c.Class))
		}
	}
	e.mu.Unlock()
	e.probes.WithLabelValues(module, string(class)).Inc()
}

// CountRejected counts a /probe request answered without a probe; reason
// is one of RejectReasons.
func (e *Exporter) CountRejected(reason string) {
	e.rejected.WithLabelValues(reason).Inc()
}

// ProbeStarted and ProbeDone keep probes_in_flight.
func (e *Exporter) ProbeStarted() { e.inFlight.Inc() }

// ProbeDone is ProbeStarted's pair.
func (e *Exporter) ProbeDone() { e.inFlight.Dec() }
