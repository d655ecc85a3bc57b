// Package metricnames lists the metric names the exporter emits, found by
// running its collectors, so that the generated alert rules and dashboard
// can be checked to query nothing else. Tests use it; the exporter does not.
package metricnames

import (
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tcp-verdict/tcp_verdict_exporter/collector"
	"github.com/tcp-verdict/tcp_verdict_exporter/config"
	"github.com/tcp-verdict/tcp_verdict_exporter/conntrack"
	"github.com/tcp-verdict/tcp_verdict_exporter/limits"
	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// Prometheus lists the series Prometheus itself adds: `up` for every
// target, and ALERTS for every pending or firing alert.
var Prometheus = []string{"up", "ALERTS", "ALERTS_FOR_STATE"}

// Probe returns the names /probe emits, from a Result that uses every
// optional feature (TLS and query phases and a TLS handshake, expectation
// labels, an expected verdict, a path trace, every address of a name, several attempts, a failed session step).
func Probe() ([]string, error) {
	r := &prober.Result{
		Class: verdict.ClosedByPeer, Reason: verdict.Fin,
		Responder:  netip.MustParseAddr("192.0.2.1"),
		Addr:       netip.MustParseAddrPort("192.0.2.1:443"),
		IPProtocol: 4,
		Phases: []prober.PhaseDuration{
			{Phase: prober.PhaseResolve}, {Phase: prober.PhaseConnect, Duration: time.Millisecond},
			{Phase: prober.PhaseTLS}, {Phase: prober.PhaseQuery}, {Phase: prober.PhaseHold},
		},
		ExpectLabels: []prober.ExpectLabel{{Name: "version", Value: "1"}},
		Hops:         []prober.Hop{{TTL: 1, Addr: netip.MustParseAddr("192.0.2.254"), Reason: verdict.TimeExceeded}},
		Addresses:    []prober.AddressResult{{Addr: netip.MustParseAddrPort("192.0.2.1:443"), Class: verdict.ClosedByPeer, Reason: verdict.Fin}},
		Attempts:     []prober.AttemptResult{{Class: verdict.ClosedByPeer, Reason: verdict.Fin}, {Class: verdict.Connected}},
		Host: &prober.HostCheck{Tried: true, Up: true, HostHops: 3, ResetHops: 2, Skipped: prober.TraceNoTime,
			ResetTrace: []prober.Hop{{TTL: 1}}, HostTrace: []prober.Hop{{TTL: 1}}},
		Cause:       verdict.CauseExpectTimeout,
		Expectation: verdict.AliasExpectation(verdict.AliasBlocked),
		TLS: &tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256,
			PeerCertificates: []*x509.Certificate{{SerialNumber: big.NewInt(1), NotAfter: time.Unix(2e9, 0)}}},
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(collector.Probe{Result: r}); err != nil {
		return nil, err
	}
	return gather(reg)
}

// Exporter returns the names /metrics emits once a probe has run, on a
// host with connection tracking (a fixture of its two files).
func Exporter() ([]string, error) {
	procfs, err := os.MkdirTemp("", "metricnames-procfs-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(procfs) //nolint:errcheck // a temporary fixture; a failed removal changes no name
	dir := filepath.Join(procfs, "sys", "net", "netfilter")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for _, f := range []string{"nf_conntrack_count", "nf_conntrack_max"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("1\n"), 0o644); err != nil {
			return nil, err
		}
	}
	store, err := config.NewStore("", []byte("modules:\n  tcp:\n    prober: tcp\n"))
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	collector.NewExporter(reg, store).CountProbe("tcp", verdict.Connected)
	collector.RegisterLimits(reg, limits.New(limits.Plan{MaxInFlight: 1, TraceSockets: 1, Draining: 1, MaxConnections: 1}))
	collector.RegisterConntrack(reg, conntrack.New(procfs))
	return gather(reg)
}

// All is Probe, Exporter and Prometheus together, as a set.
func All() (map[string]bool, error) {
	p, err := Probe()
	if err != nil {
		return nil, err
	}
	e, err := Exporter()
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, list := range [][]string{p, e, Prometheus} {
		for _, n := range list {
			set[n] = true
		}
	}
	return set, nil
}

func gather(g prometheus.Gatherer) ([]string, error) {
	mfs, err := g.Gather()
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(mfs))
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	sort.Strings(names)
	return names, nil
}

// promqlKeywords are PromQL words that are not metric names.
var promqlKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true,
	"inf": true, "nan": true,
}

// grouping words take a parenthesised list of label names.
var grouping = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

// aggregation tells whether rest starts with "by" or "without" and a
// parenthesis, as after an aggregation operator.
func aggregation(rest []rune) bool {
	t := strings.TrimLeft(string(rest), " \t\n")
	for _, kw := range []string{"by", "without"} {
		if strings.HasPrefix(t, kw) && strings.HasPrefix(strings.TrimLeft(t[len(kw):], " \t\n"), "(") {
			return true
		}
	}
	return false
}

// InPromQL returns the metric names a PromQL expression selects. It is a
// small scanner, not a parser: it drops strings, label matchers, ranges and
// grouping label lists, and calls an identifier before "(" a function.
func InPromQL(expr string) []string {
	var names []string
	s := []rune(expr)
	skipTo := func(i int, open, close rune) int { // index after the matching close
		depth := 0
		for ; i < len(s); i++ {
			switch s[i] {
			case '"', '\'', '`':
				q := s[i]
				for i++; i < len(s) && s[i] != q; i++ {
					if s[i] == '\\' {
						i++
					}
				}
			case open:
				depth++
			case close:
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return i
	}
	isStart := func(r rune) bool { return r == '_' || r == ':' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }
	isPart := func(r rune) bool { return isStart(r) || r >= '0' && r <= '9' }
	for i := 0; i < len(s); {
		r := s[i]
		switch {
		case r == '"' || r == '\'' || r == '`':
			q := s[i]
			for i++; i < len(s) && s[i] != q; i++ {
				if s[i] == '\\' {
					i++
				}
			}
			i++
		case r == '{':
			i = skipTo(i, '{', '}')
		case r == '[':
			i = skipTo(i, '[', ']')
		case r == '$': // a Grafana variable
			for i++; i < len(s) && isPart(s[i]); i++ {
			}
		case r >= '0' && r <= '9' || r == '.':
			for i++; i < len(s) && (isPart(s[i]) || s[i] == '.'); i++ {
			}
		case isStart(r):
			j := i
			for ; j < len(s) && isPart(s[j]); j++ {
			}
			word := string(s[i:j])
			k := j
			for k < len(s) && (s[k] == ' ' || s[k] == '\n' || s[k] == '\t') {
				k++
			}
			switch {
			case grouping[strings.ToLower(word)] && k < len(s) && s[k] == '(':
				j = skipTo(k, '(', ')')
			case promqlKeywords[strings.ToLower(word)]:
			case k < len(s) && s[k] == '(': // a function
			case aggregation(s[k:]): // sum by (...) (...)
			default:
				names = append(names, word)
			}
			i = j
		default:
			i++
		}
	}
	return names
}
