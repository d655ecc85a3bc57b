package prober

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// flowSilentTTLs ends a flow-keeping trace: after this many silent TTLs in
// a row, the flow's SYNs are taken to die before them. Every TTL sends the
// same 5-tuple, so a hop that drops the flow drops it at every higher TTL
// too; only a router that sends no time-exceeded at all is skipped over.
const flowSilentTTLs = 3

// traceFlow is traceRoute for one flow: every TTL's SYN goes from src, the
// failed attempt's own address and port, to dst, so a per-flow hash (ECMP,
// LAG, a load balancer) sends it the way the attempt went, and the trace
// stops where that flow dies rather than finding a healthy path. Two
// sockets cannot hold one 5-tuple at once, so the TTLs go one after the
// other, each on a socket bound to src with SO_REUSEADDR, closed before
// the next; a TTL waits up to a quarter of wait, and the trace ends at the
// first hop that ends the path, after flowSilentTTLs silent TTLs in a row,
// or when wait is spent (docs/intermittent.md, "Tracing the failing
// flow"). It holds one socket at a time.
func traceFlow(ctx context.Context, src, dst netip.AddrPort, maxHops int, wait time.Duration) ([]Hop, error) {
	deadline := time.Now().Add(wait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	hopWait := max(wait/(flowSilentTTLs+1), time.Millisecond)
	hops := make([]Hop, 0, min(maxHops, 16))
	silent := 0
	for ttl := 1; ttl <= maxHops && ctx.Err() == nil; ttl++ {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		s, err := openTraceSocket(src, dst, ttl)
		if err != nil {
			if errors.Is(err, unix.EADDRINUSE) {
				err = fmt.Errorf("%w: another socket of this host holds %s, so the trace cannot send from the attempt's own port", err, addrText(src))
			}
			return nil, err
		}
		h := s.await(ctx, time.Now().Add(min(hopWait, left)))
		hops = append(hops, h)
		if h.Final() {
			break
		}
		if silent++; h.Answered() {
			silent = 0
		}
		if silent >= flowSilentTTLs {
			break
		}
	}
	return hops, nil
}

// await waits for the socket's answer until end (or ctx), closes the
// socket and returns its hop.
func (s *traceSocket) await(ctx context.Context, end time.Time) Hop {
	defer closePolitely(fileConn(s.f), nil) // a hop that reached the target ends with FIN, closed at once: the next TTL binds the same port
	h := Hop{TTL: s.ttl}
	if err := s.f.SetWriteDeadline(end); err != nil {
		return h
	}
	stop := context.AfterFunc(ctx, func() { _ = s.f.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	if rc, err := s.f.SyscallConn(); err == nil {
		_ = rc.Write(func(fd uintptr) bool { return s.inspect(int(fd), &h) })
	}
	return h
}
