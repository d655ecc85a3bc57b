// Package collector turns a probe Result into Prometheus metrics, and keeps
// the exporter's own metrics. It never dials anything.
package collector

import (
	"hash/fnv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

var (
	verdictDesc = prometheus.NewDesc("tcp_verdict",
		"Verdict of the TCP probe as a state set: 1 for the current class, 0 for the others. Classes: "+classList()+".",
		[]string{"class"}, nil)
	verdictInfoDesc = prometheus.NewDesc("tcp_verdict_info",
		"Evidence behind the verdict: reason in nmap's --reason words, and the address that produced it (the target, or the router that sent the ICMP; empty when nothing answered).",
		[]string{"class", "reason", "responder"}, nil)
	phaseDesc = prometheus.NewDesc("tcp_phase_duration_seconds",
		"Duration of each phase of the probe.", []string{"phase"}, nil)
	successDesc = prometheus.NewDesc("probe_success",
		"1 if the session was established, survived the hold and met every expectation.", nil, nil)
	durationDesc = prometheus.NewDesc("probe_duration_seconds",
		"How long the probe took to complete in seconds.", nil, nil)
	dnsLookupDesc = prometheus.NewDesc("probe_dns_lookup_time_seconds",
		"Returns the time taken for probe dns lookup in seconds.", nil, nil)
	ipProtocolDesc = prometheus.NewDesc("probe_ip_protocol",
		"Specifies whether probe ip protocol is IP4 or IP6.", nil, nil)
	ipAddrHashDesc = prometheus.NewDesc("probe_ip_addr_hash",
		"Specifies the hash of IP address. It's useful to detect if the IP address changes.", nil, nil)
	failedRegexDesc = prometheus.NewDesc("probe_failed_due_to_regex",
		"Indicates if probe failed due to regex.", nil, nil)
)

func classList() string {
	s := ""
	for i, c := range verdict.Classes {
		if i > 0 {
			s += ", "
		}
		s += string(c.Class)
	}
	return s
}

// Probe exposes one Result. Every series is emitted on every probe, so
// "absent" never has to be told apart from "0".
type Probe struct {
	Result *prober.Result
}

// Describe sends nothing: the collector is unchecked, as it lives for one
// request in a registry of its own.
func (Probe) Describe(chan<- *prometheus.Desc) {}

// Collect emits the probe's metrics.
func (c Probe) Collect(ch chan<- prometheus.Metric) {
	r := c.Result
	for _, ci := range verdict.Classes {
		ch <- prometheus.MustNewConstMetric(verdictDesc, prometheus.GaugeValue, boolValue(ci.Class == r.Class), string(ci.Class))
	}
	responder := ""
	if r.Responder.IsValid() {
		responder = r.Responder.String()
	}
	ch <- prometheus.MustNewConstMetric(verdictInfoDesc, prometheus.GaugeValue, 1, string(r.Class), string(r.Reason), responder)
	for _, pd := range r.Phases {
		ch <- prometheus.MustNewConstMetric(phaseDesc, prometheus.GaugeValue, pd.Duration.Seconds(), string(pd.Phase))
	}
	dns, _ := r.PhaseDuration(prober.PhaseResolve)
	ch <- prometheus.MustNewConstMetric(successDesc, prometheus.GaugeValue, boolValue(r.Success))
	ch <- prometheus.MustNewConstMetric(durationDesc, prometheus.GaugeValue, r.Duration.Seconds())
	ch <- prometheus.MustNewConstMetric(dnsLookupDesc, prometheus.GaugeValue, dns.Seconds())
	ch <- prometheus.MustNewConstMetric(ipProtocolDesc, prometheus.GaugeValue, float64(r.IPProtocol))
	ch <- prometheus.MustNewConstMetric(ipAddrHashDesc, prometheus.GaugeValue, addrHash(r))
	ch <- prometheus.MustNewConstMetric(failedRegexDesc, prometheus.GaugeValue, boolValue(r.FailedDueToRegex))
	if len(r.ExpectLabels) > 0 {
		names := make([]string, len(r.ExpectLabels))
		values := make([]string, len(r.ExpectLabels))
		for i, l := range r.ExpectLabels {
			names[i], values[i] = l.Name, l.Value
		}
		desc := prometheus.NewDesc("probe_expect_info", "Explicit content matched", names, nil)
		if m, err := prometheus.NewConstMetric(desc, prometheus.GaugeValue, 1, values...); err == nil {
			ch <- m
		}
	}
}

// addrHash matches blackbox_exporter's probe_ip_addr_hash: FNV-32a of the
// address text, 0 when nothing was resolved.
func addrHash(r *prober.Result) float64 {
	if !r.Addr.IsValid() {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(r.Addr.Addr().String()))
	return float64(h.Sum32())
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
