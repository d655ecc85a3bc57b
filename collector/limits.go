package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/budget"
)

// RegisterLimits exposes the exporter's load limits and how much of them is in
// use (docs/security.md, "Load limits, HTTP hardening and debug"): the probe
// slots, the path traces' socket budget and the HTTP connections. A nil budget
// is not exposed.
func RegisterLimits(reg prometheus.Registerer, slots, traceSockets, conns *budget.Budget) {
	for _, b := range []struct {
		b          *budget.Budget
		name, what string
	}{
		{slots, "probe_slots", "Probe slots (--probe.max-in-flight); a probe takes one per two sockets it holds at once."},
		{traceSockets, "trace_sockets", "Sockets the path traces may hold together (--probe.trace-max-sockets)."},
		{conns, "http_connections", "HTTP connections held open (--web.max-connections); idle ones are closed first when full."},
	} {
		if b.b == nil {
			continue
		}
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Namespace: Namespace, Name: b.name + "_in_use", Help: b.what + " In use now.",
			}, func() float64 { return float64(b.b.InUse()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Namespace: Namespace, Name: b.name + "_max", Help: b.what + " The limit.",
			}, func() float64 { return float64(b.b.Max()) }),
		)
	}
}
