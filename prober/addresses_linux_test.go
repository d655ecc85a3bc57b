package prober

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// With every address dialled and none connecting, the path trace runs
// once, for the first address (the verdict's), after every dial ended.
func TestAllAddressesTraceOnce(t *testing.T) {
	dropped := testnet.FullBacklog(t) // 127.0.0.1: SYNs dropped
	refusing := netip.MustParseAddr("127.0.0.5")
	zone := &testnet.DNSZone{A: map[string][]netip.Addr{"traced.multi.test.": {dropped.Addr(), refusing}}}
	resolver := ServerResolver(testnet.StartDNS(t, zone))
	m := module(t, "    timeout: 1s\n    tcp: {preferred_ip_protocol: ip4, addresses: all, trace: {enabled: true, max_hops: 3, timeout: 300ms}}\n")
	tg, err := ParseTarget(fmt.Sprintf("traced.multi.test:%d", dropped.Port()))
	if err != nil {
		t.Fatal(err)
	}
	r := Probe(context.Background(), tg, m, Options{Trace: true, Resolver: resolver})
	t.Logf("%s\n%s", r.Summary(), r.TranscriptText())
	if r.Reason != verdict.NoResponse || r.Addr != dropped {
		t.Fatalf("verdict %s at %s, want no-response at %s (the first address)", r.Summary(), r.Addr, dropped)
	}
	if len(r.Addresses) != 2 || r.Addresses[1].Reason != verdict.ConnRefused {
		t.Errorf("addresses %+v, want the second refused", r.Addresses)
	}
	traces := 0
	for _, p := range r.Phases {
		if p.Phase == PhaseTrace {
			traces++
		}
	}
	if traces != 1 || len(r.Hops) != 3 {
		t.Errorf("%d trace phases and hops %+v, want one trace of 3 hops", traces, r.Hops)
	}
	if !strings.Contains(r.TranscriptText(), "traceroute to 127.0.0.1 port ") {
		t.Error("the trace is not of the first address")
	}
	if r.Duration > 1100*time.Millisecond {
		t.Errorf("the probe took %s: the trace must fit in the module's 1s", r.Duration)
	}
}
