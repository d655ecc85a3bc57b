package collector

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tcp-verdict/tcp_verdict_exporter/conntrack"
	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
)

// The host check's series (tcp.control_ports; docs/host-evidence.md). They
// appear only on a probe whose check ran: tcp_host_up whenever a control
// port was asked, the hop counts when they were measured (after a refused
// connect), tcp_host_check_skipped when a due check could not run.
var (
	hostUpFamily = newFamily("tcp_host_up",
		"1 when the host answered a control port (tcp.control_ports: SYN-ACK, RST or ICMP from its own address), 0 when none did. Only when the host check ran, after a refused or silent connect.")
	hostHopsFamily = newFamily("tcp_host_hops",
		"TTL at which the host first answered a control port's TTL-limited SYN: how many hops away it is; 0 when it did not answer. Only after a refused connect with control ports.")
	resetHopsFamily = newFamily("tcp_reset_hops",
		"TTL at which the probed port's RST first came back to TTL-limited SYNs; fewer than tcp_host_hops means a hop on the path forged it (forged-reset); 0 when none came back. Only after a refused connect with control ports.")
	hostCheckSkippedFamily = newFamily("tcp_host_check_skipped",
		"1 when a host check was due (tcp.control_ports, a refused or silent connect) but could not run, with the reason ("+traceSkipNames()+"). Only then.",
		"reason")
)

// hostSamples adds the host check's series to s.
func hostSamples(s []sample, r *prober.Result) []sample {
	h := r.Host
	if h == nil {
		return s
	}
	if h.Skipped != "" {
		s = append(s, sample{hostCheckSkippedFamily, []string{string(h.Skipped)}, 1})
	}
	if !h.Tried {
		return s
	}
	s = append(s, sample{hostUpFamily, nil, boolValue(h.Up)})
	if h.HostTrace != nil || h.ResetTrace != nil {
		s = append(s,
			sample{hostHopsFamily, nil, float64(h.HostHops)},
			sample{resetHopsFamily, nil, float64(h.ResetHops)})
	}
	return s
}

// conntrackCollector exposes how full this host's conntrack table is,
// read at each scrape; nothing when the host has no connection tracking.
type conntrackCollector struct {
	table         *conntrack.Table
	entries, max  *prometheus.Desc
	readErrorDesc *prometheus.Desc
}

// RegisterConntrack exposes the fill of the conntrack table under procfs
// (--path.procfs): every probe leaves an entry there for about two minutes,
// and a full table drops new SYNs (docs/host-evidence.md, "A full conntrack
// table"). A nil table is not exposed.
func RegisterConntrack(reg prometheus.Registerer, table *conntrack.Table) {
	if table == nil {
		return
	}
	reg.MustRegister(&conntrackCollector{
		table: table,
		entries: prometheus.NewDesc(Namespace+"_conntrack_entries",
			"Entries in this host's connection tracking table (nf_conntrack_count); absent without connection tracking.", nil, nil),
		max: prometheus.NewDesc(Namespace+"_conntrack_entries_limit",
			"Size of this host's connection tracking table (nf_conntrack_max); at it, new SYNs are dropped and silent verdicts become error/local-error.", nil, nil),
		readErrorDesc: prometheus.NewDesc(Namespace+"_conntrack_read_errors",
			"1 when the conntrack files exist but could not be read or parsed.", nil, nil),
	})
}

func (c *conntrackCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.entries
	ch <- c.max
	ch <- c.readErrorDesc
}

func (c *conntrackCollector) Collect(ch chan<- prometheus.Metric) {
	fill, err := c.table.Read()
	switch {
	case errors.Is(err, conntrack.ErrNoConntrack):
		return
	case err != nil:
		ch <- prometheus.MustNewConstMetric(c.readErrorDesc, prometheus.GaugeValue, 1)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.entries, prometheus.GaugeValue, float64(fill.Count))
	ch <- prometheus.MustNewConstMetric(c.max, prometheus.GaugeValue, float64(fill.Max))
	ch <- prometheus.MustNewConstMetric(c.readErrorDesc, prometheus.GaugeValue, 0)
}
