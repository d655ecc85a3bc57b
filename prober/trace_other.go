//go:build !linux

package prober

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/limits"
)

// traceRoute needs the ICMP error queue (IP_RECVERR), which only Linux has:
// elsewhere a trace reports that it cannot run and leaves no hops.
func traceRoute(context.Context, netip.Addr, netip.AddrPort, int, time.Duration, *limits.Drains) ([]Hop, error) {
	return nil, errors.New("path tracing needs Linux (IP_RECVERR)")
}

// traceFlow, as traceRoute, needs Linux.
func traceFlow(context.Context, netip.AddrPort, netip.AddrPort, int, time.Duration) ([]Hop, error) {
	return nil, errors.New("path tracing needs Linux (IP_RECVERR)")
}
