package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tcp-verdict/tcp_verdict_exporter/limits"
)

// usage is what a limit shows of itself: what is held now and the bound.
type usage interface {
	InUse() int
	Max() int
}

// RegisterLimits exposes the exporter's load limits and how much of them is
// in use (docs/security.md, "Load limits, HTTP hardening and debug"): the
// probe slots, the path traces' socket budget and the HTTP connections. It only reads them (InUse, Max),
// at scrape time.
func RegisterLimits(reg prometheus.Registerer, l *limits.Set) {
	for _, b := range []struct {
		u          usage
		name, what string
	}{
		{l.Slots, "probe_slots", "Probe slots (--probe.max-in-flight); a probe takes one per two sockets it holds at once."},
		{l.TraceSockets, "trace_sockets", "Sockets the path traces may hold together (--probe.trace-max-sockets)."},
		{l.Conns, "http_connections", "HTTP connections held open (--web.max-connections); idle ones are closed first when full."},
	} {
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Namespace: Namespace, Name: b.name + "_in_use", Help: b.what + " In use now.",
			}, func() float64 { return float64(b.u.InUse()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Namespace: Namespace, Name: b.name + "_max", Help: b.what + " The limit.",
			}, func() float64 { return float64(b.u.Max()) }),
		)
	}
}
