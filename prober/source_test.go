package prober

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/config"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

func TestAddrCacheOwns(t *testing.T) {
	c := &addrCache{ttl: time.Second}
	for addr, want := range map[string]bool{
		"127.0.0.1":   true,
		"127.0.0.2":   true, // inside lo's 127.0.0.0/8: the kernel makes all of it local
		"::1":         true,
		"192.0.2.1":   false, // TEST-NET-1: nobody's
		"2001:db8::1": false,
	} {
		got, err := c.owns(netip.MustParseAddr(addr))
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("owns(%s) = %v, want %v", addr, got, want)
		}
	}
}

// A source address the host does not own is our own configuration's
// failure, found before any socket exists: no SYN leaves.
func TestUnownedSourceIsLocalError(t *testing.T) {
	target, err := ParseTarget(testnet.Serve(t, "tcp4", "127.0.0.1:0", testnet.KeepOpen))
	if err != nil {
		t.Fatal(err)
	}
	m := config.Module{Prober: "tcp", Timeout: time.Second, TCP: config.TCPProbe{IPProtocol: "ip4", SourceIPAddress: "192.0.2.1"}}
	r := Probe(context.Background(), target, m, Options{Trace: true})
	if r.Class != verdict.Error || r.Reason != verdict.LocalError {
		t.Fatalf("verdict %s/%s, want error/local-error\n%s", r.Class, r.Reason, r.TranscriptText())
	}
	if r.Err == nil || !strings.Contains(r.Err.Error(), "192.0.2.1 is not assigned to any interface of this host") {
		t.Errorf("error %v does not say the source is not ours", r.Err)
	}
}
