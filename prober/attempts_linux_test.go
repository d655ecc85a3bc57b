package prober

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// Several attempts to a listener: each connects from a port of its own,
// none needed a SYN again; to a closed port each is refused.
func TestAttemptsLoopback(t *testing.T) {
	listening := testnet.Serve(t, "tcp4", "127.0.0.1:0", testnet.KeepOpen)
	closed := testnet.ClosedPort(t, "tcp6", "[::1]:0")
	m := module(t, "    timeout: 2s\n    tcp:\n      attempts: 6\n      hold: 50ms\n")

	r := probeTarget(t, listening, m)
	if r.Class != verdict.Connected || !r.Success || len(r.Attempts) != 6 || r.Intermittent() {
		t.Fatalf("verdict %s, success %v, %d attempts, intermittent %v; want connected, 6 attempts", r.Summary(), r.Success, len(r.Attempts), r.Intermittent())
	}
	ports := map[uint16]bool{}
	for i, a := range r.Attempts {
		if a.Class != verdict.Connected || !a.Success || a.SynRetransmits != 0 || a.Source.Port() == 0 || a.Source.Addr() != netip.MustParseAddr("127.0.0.1") {
			t.Errorf("attempt %d: %+v, want connected from 127.0.0.1 and a port, no SYN retransmission", i+1, a)
		}
		ports[a.Source.Port()] = true
	}
	if len(ports) != 6 {
		t.Errorf("%d source ports among 6 attempts, want one each", len(ports))
	}
	if n := r.AttemptCounts(); n[verdict.Connected.Index()] != 6 {
		t.Errorf("counts %v, want 6 connected", n)
	}
	if r.SynRetransmits != 0 {
		t.Errorf("SYN retransmissions %d on loopback, want 0", r.SynRetransmits)
	}

	r = probeTarget(t, closed, m)
	if r.Class != verdict.Refused || r.Success || len(r.Attempts) != 6 || r.AttemptCounts()[verdict.Refused.Index()] != 6 {
		t.Fatalf("verdict %s, counts %v; want refused 6 times", r.Summary(), r.AttemptCounts())
	}
}

// A name that does not resolve: every attempt met the resolver's verdict.
func TestAttemptsUnresolved(t *testing.T) {
	m := module(t, "    tcp:\n      attempts: 3\n")
	tg, err := ParseTarget("no-such-name.invalid:80")
	if err != nil {
		t.Fatal(err)
	}
	r := Probe(context.Background(), tg, m, Options{Resolver: &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Err: net.UnknownNetworkError("none")}
	}}})
	if r.Class != verdict.DNSError || r.AttemptCounts()[verdict.DNSError.Index()] != 3 {
		t.Fatalf("verdict %s, counts %v; want dns_error 3 times", r.Summary(), r.AttemptCounts())
	}
}

// A trace of one flow sends every TTL from the attempt's own address and
// port: the listener sees the connection come from that very port.
func TestTraceFlowKeepsSourcePort(t *testing.T) {
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close() //nolint:errcheck // closing a test listener; nothing to report
	seen := make(chan netip.AddrPort, 4)
	go func() {
		for {
			c, err := ln.AcceptTCP()
			if err != nil {
				return
			}
			seen <- c.RemoteAddr().(*net.TCPAddr).AddrPort()
			_ = c.Close()
		}
	}()
	// A port the kernel gives out, free again.
	probeSock, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	src := probeSock.Addr().(*net.TCPAddr).AddrPort()
	_ = probeSock.Close()

	dst := ln.Addr().(*net.TCPAddr).AddrPort()
	before := openFDs(t)
	hops, err := traceFlow(context.Background(), src, dst, 8, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(hops) != 1 || !hops[0].Reached || hops[0].Reason != verdict.SynAck {
		t.Fatalf("hops %+v, want the target at TTL 1", hops)
	}
	select {
	case from := <-seen:
		if from.Port() != src.Port() || from.Addr().Unmap() != src.Addr() {
			t.Errorf("the trace's SYN came from %s, want %s", from, src)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the listener saw no connection")
	}
	// traceFlow closes at once (no drains): nothing to wait for
	time.Sleep(50 * time.Millisecond)
	if after := openFDs(t); after != before {
		t.Errorf("%d descriptors open after the trace, %d before: a socket leaked", after, before)
	}
}

// A flow that dies: after flowSilentTTLs silent TTLs the trace ends,
// within its wait.
func TestTraceFlowSilence(t *testing.T) {
	dst := testnet.FullBacklog(t)
	probeSock, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	src := probeSock.Addr().(*net.TCPAddr).AddrPort()
	_ = probeSock.Close()
	const wait = 400 * time.Millisecond
	start := time.Now()
	hops, err := traceFlow(context.Background(), src, dst, 16, wait)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if len(hops) != flowSilentTTLs {
		t.Errorf("%d hops %+v, want %d silent", len(hops), hops, flowSilentTTLs)
	}
	for _, h := range hops {
		if h.Answered() {
			t.Errorf("hop %+v answered", h)
		}
	}
	if took > wait+200*time.Millisecond {
		t.Errorf("the trace took %s, want at most its %s", took, wait)
	}
}
