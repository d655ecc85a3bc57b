package collector

import (
	"context"
	"hash/fnv"
	"net"
	"net/netip"
	"testing"

	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
)

// blackboxHash is blackbox_exporter's ipHash: FNV-32a over a net.IP's
// bytes, whatever their length.
func blackboxHash(ip net.IP) float64 {
	h := fnv.New32a()
	h.Write(ip)
	return float64(h.Sum32())
}

// probe_ip_addr_hash is blackbox's value for the same target: an IP
// literal goes through Go's resolver as blackbox's does (16-byte form), a
// name's A record arrives in 4 bytes, an AAAA record in 16.
func TestAddrHashIsBlackboxs(t *testing.T) {
	literal := func(s string) net.IP {
		t.Helper()
		// An IP literal never leaves the process: the resolver parses it.
		addrs, err := net.DefaultResolver.LookupIPAddr(context.Background(), s)
		if err != nil || len(addrs) != 1 {
			t.Fatalf("LookupIPAddr(%s) = %v, %v", s, addrs, err)
		}
		return addrs[0].IP
	}
	aRecord := func(s string) net.IP { return net.ParseIP(s).To4() } // dnsmessage.AResource.A is [4]byte
	cases := []struct {
		name   string
		target string
		addr   string
		want   net.IP
		pinned float64 // computed apart (Python, FNV-1a by hand), so a change on both sides shows
	}{
		{"IPv4 literal", "192.0.2.7:22", "192.0.2.7", literal("192.0.2.7"), 3434461628},
		{"IPv6 literal", "[2001:db8::7]:22", "2001:db8::7", literal("2001:db8::7"), 1817903566},
		{"IPv4 from an A record", "www.example.test:22", "192.0.2.7", aRecord("192.0.2.7"), 1936431214},
		{"IPv6 from an AAAA record", "www.example.test:22", "2001:db8::7", net.ParseIP("2001:db8::7"), 1817903566},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			target, err := prober.ParseTarget(c.target)
			if err != nil {
				t.Fatal(err)
			}
			r := prober.Result{Target: target, Addr: netip.AddrPortFrom(netip.MustParseAddr(c.addr), target.Port)}
			got := addrHash(&r)
			if want := blackboxHash(c.want); got != want {
				t.Errorf("addrHash = %v, blackbox's algorithm gives %v", got, want)
			}
			if got != c.pinned {
				t.Errorf("addrHash = %v, pinned %v", got, c.pinned)
			}
		})
	}
	if got := addrHash(&prober.Result{}); got != 0 {
		t.Errorf("nothing resolved: addrHash = %v, want 0", got)
	}
}
