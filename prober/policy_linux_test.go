//go:build linux

package prober

import (
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
)

// A trace module's refused probe neither dials nor traces: against a
// silent target a dialled probe would wait out its connect and then send a
// SYN per TTL.
func TestPolicyRefusesBeforeTracing(t *testing.T) {
	silent := testnet.FullBacklog(t)
	m := module(t, "    timeout: 3s\n    tcp:\n      preferred_ip_protocol: ip4\n      trace: {enabled: true, max_hops: 4, timeout: 1s}\n    target_policy: {deny: [127.0.0.0/8]}\n")
	start := time.Now()
	r := probeTarget(t, silent.String(), m)
	if r.Refusal == nil {
		t.Fatalf("not refused: %s", r.Summary())
	}
	if r.Hops != nil {
		t.Errorf("a refused probe traced: %d hops", len(r.Hops))
	}
	if d, _ := r.PhaseDuration(PhaseConnect); d != 0 {
		t.Errorf("connect phase took %s: it must not run", d)
	}
	if _, ok := r.PhaseDuration(PhaseTrace); ok {
		t.Error("a trace phase ran")
	}
	if el := time.Since(start); el > 500*time.Millisecond {
		t.Errorf("the refusal took %s: it waited on the network", el)
	}
}
