// Package collector turns a probe Result into Prometheus metrics, and keeps
// the exporter's own metrics. It never dials anything.
package collector

import (
	"hash/fnv"
	"net/netip"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// family is one metric name with its help and label names. Every /probe
// metric is a gauge.
type family struct {
	name   string
	help   string
	labels []string
	// desc serves Probe.Collect, the prometheus.Collector path: /probe
	// does not take it (AppendText writes the same bytes without a
	// registry); tests register Probe to hold AppendText to client_golang's
	// output (TestAppendTextMatchesRegistry), and metricnames lists the
	// emitted names through it.
	desc *prometheus.Desc
}

func newFamily(name, help string, labels ...string) *family {
	return &family{name, help, labels, prometheus.NewDesc(name, help, labels, nil)}
}

var (
	verdictFamily = newFamily("tcp_verdict",
		"Verdict of the TCP probe as a state set: 1 for the current class, 0 for the others. Classes: "+strings.Join(verdict.ClassNames(), ", ")+".",
		"class")
	verdictInfoFamily = newFamily("tcp_verdict_info",
		"Evidence behind the verdict: the address dialled (empty when the name did not resolve), reason in nmap's --reason words, and the address that produced it (the target, or the router that sent the ICMP; empty when nothing answered).",
		"address", "class", "reason", "responder")
	phaseFamily = newFamily("tcp_phase_duration_seconds",
		"Duration of each phase of the probe.", "phase")
	successFamily = newFamily("probe_success",
		"1 if the session was established, survived the hold and met every expectation; with an expected verdict (expect), 1 if the verdict was one of the expected classes (and, when that is connected, the session met its expectations).")
	expectedFamily = newFamily("tcp_verdict_expected",
		"1 if the verdict is one of the expected classes, 0 if not; absent when the probe has no expected verdict (expect). The expectation label lists the expected classes.",
		"expectation")
	durationFamily = newFamily("probe_duration_seconds",
		"How long the probe took to complete in seconds.")
	dnsLookupFamily = newFamily("probe_dns_lookup_time_seconds",
		"Returns the time taken for probe dns lookup in seconds.")
	ipProtocolFamily = newFamily("probe_ip_protocol",
		"Specifies whether probe ip protocol is IP4 or IP6.")
	ipAddrHashFamily = newFamily("probe_ip_addr_hash",
		"Specifies the hash of IP address. It's useful to detect if the IP address changes.")
	failedRegexFamily = newFamily("probe_failed_due_to_regex",
		"Indicates if probe failed due to regex.")
)

const expectInfoHelp = "Explicit content matched"

// sample is one series of a probe's output.
type sample struct {
	fam    *family
	values []string // label values, in fam.labels order
	value  float64
}

// Samples lists every series of a probe, in exposition order (families by
// name, series by label values). It is the one definition of the /probe
// output: the registry path (Collect) and the fast text path (AppendText)
// both render it.
func samples(r *prober.Result) []sample {
	return appendSamples(make([]sample, 0, 24), r)
}

// appendSamples is samples appending to s, so that AppendText can reuse
// one slice across probes (sampleSlices).
func appendSamples(s []sample, r *prober.Result) []sample {
	for i, ci := range verdict.Classes {
		s = append(s, sample{verdictFamily, classValues[i], boolValue(ci.Class == r.Class)})
	}
	s = append(s, sample{verdictInfoFamily, []string{addrText(r.Addr.Addr()), string(r.Class), string(r.Reason), addrText(r.Responder)}, 1})
	s = addressSamples(s, r)
	if r.Expectation.IsSet() && r.Refusal == nil {
		s = append(s, sample{expectedFamily, expectationValues(r.Expectation), boolValue(r.Expected)})
	}
	s = attemptSamples(s, r)
	for _, pd := range r.Phases {
		values, ok := phaseValues[pd.Phase]
		if !ok {
			values = []string{string(pd.Phase)}
		}
		s = append(s, sample{phaseFamily, values, pd.Duration.Seconds()})
	}
	dns, _ := r.PhaseDuration(prober.PhaseResolve)
	s = append(s,
		sample{successFamily, nil, boolValue(r.Success)},
		sample{durationFamily, nil, r.Duration.Seconds()},
		sample{dnsLookupFamily, nil, dns.Seconds()},
		sample{ipProtocolFamily, nil, float64(r.IPProtocol)},
		sample{ipAddrHashFamily, nil, addrHash(r)},
		sample{failedRegexFamily, nil, boolValue(r.FailedDueToRegex)},
	)
	if len(r.ExpectLabels) > 0 {
		// Label pairs go out sorted by name, as a registry sorts them.
		labels := slices.SortedFunc(slices.Values(r.ExpectLabels), func(a, b prober.ExpectLabel) int {
			return strings.Compare(a.Name, b.Name)
		})
		names := make([]string, len(labels))
		values := make([]string, len(labels))
		for i, l := range labels {
			names[i], values[i] = l.Name, l.Value
		}
		// Label names come from the config, which validated them.
		s = append(s, sample{newFamily("probe_expect_info", expectInfoHelp, names...), values, 1})
	}
	s = traceSamples(s, r)
	s = hostSamples(s, r)
	s = tlsSamples(s, r)
	slices.SortStableFunc(s, func(a, b sample) int {
		if c := strings.Compare(a.fam.name, b.fam.name); c != 0 {
			return c
		}
		return slices.Compare(a.values, b.values)
	})
	return s
}

// expectationValues is tcp_verdict_expected's label values: made once for
// every expectation there can be (verdict.Expectation's table), else per
// probe.
func expectationValues(e verdict.Expectation) []string {
	if int(e) < len(expectationValueTable) {
		return expectationValueTable[e]
	}
	return []string{e.String()}
}

// Label values that never change, made once rather than on every probe.
var (
	expectationValueTable = func() [][]string {
		if len(verdict.Classes) > 10 {
			return nil
		}
		v := make([][]string, 1<<len(verdict.Classes))
		for i := range v {
			v[i] = []string{verdict.Expectation(i).String()}
		}
		return v
	}()
	classValues = func() [][]string {
		v := make([][]string, len(verdict.Classes))
		for i, ci := range verdict.Classes {
			v[i] = []string{string(ci.Class)}
		}
		return v
	}()
	phaseValues = func() map[prober.Phase][]string {
		v := map[prober.Phase][]string{}
		for _, p := range []prober.Phase{prober.PhaseResolve, prober.PhaseConnect, prober.PhaseTLS, prober.PhaseQuery, prober.PhaseHold, prober.PhaseTrace, prober.PhaseControl} {
			v[p] = []string{string(p)}
		}
		return v
	}()
)

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
	for _, s := range samples(c.Result) {
		if m, err := prometheus.NewConstMetric(s.fam.desc, prometheus.GaugeValue, s.value, s.values...); err == nil {
			ch <- m
		}
	}
}

// addrHash matches blackbox_exporter's probe_ip_addr_hash: FNV-32a of the
// address's bytes, an IPv4 address (also one written IPv4-mapped,
// ::ffff:a.b.c.d) in its 4 bytes, IPv6 in its 16, however it was found;
// 0 when nothing was resolved (docs/metrics.md, "probe_ip_addr_hash").
func addrHash(r *prober.Result) float64 {
	if !r.Addr.IsValid() {
		return 0
	}
	a := r.Addr.Addr().Unmap()
	var b []byte
	if a.Is4() {
		v4 := a.As4()
		b = v4[:]
	} else {
		v6 := a.As16() // without the zone, as net.IP has none
		b = v6[:]
	}
	h := fnv.New32a()
	h.Write(b)
	return float64(h.Sum32())
}

// addrText is an address as a label value: "" when invalid.
func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
