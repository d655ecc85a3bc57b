package prober

import (
	"context"
	"net"
	"net/netip"
)

// ServerResolver is Go's own resolver sending every query to server, never
// to the system's name servers (/etc/hosts, and the search list of
// /etc/resolv.conf, still apply). --dns.server probes through it; tests use
// it so that no query leaves the machine. An answer too long for UDP is
// asked again over TCP, to the same server.
func ServerResolver(server netip.AddrPort) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, server.String())
	}}
}
