package prober

import (
	"context"
	"net"
	"net/netip"
)

// ServerResolver is Go's own resolver sending every query to server, never
// to the system's name servers (/etc/hosts still answers first). Tests use
// it so that no query leaves the machine.
func ServerResolver(server netip.AddrPort) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", server.String())
	}}
}
