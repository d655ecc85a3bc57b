package collector

import (
	"hash/fnv"
	"net"
	"net/netip"
	"testing"

	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
)

// blackboxHash is blackbox_exporter's rule for probe_ip_addr_hash as its
// binary shows it (test/blackbox runs the two side by side): FNV-32a over
// net.IP.To4() when that is not nil, else over the 16 bytes.
func blackboxHash(ip net.IP) float64 {
	h := fnv.New32a()
	if v4 := ip.To4(); v4 != nil {
		h.Write(v4)
	} else {
		h.Write(ip.To16())
	}
	return float64(h.Sum32())
}

// probe_ip_addr_hash is blackbox's value for the same address, whether the
// target named it or a resolver returned it, and whatever the form the
// resolver used (4 bytes from an A record, 16 from /etc/hosts or a literal).
func TestAddrHashIsBlackboxs(t *testing.T) {
	cases := []struct {
		name   string
		target string
		addr   string  // the address the probe dialled
		pinned float64 // computed apart (Python, FNV-1a by hand), so a change on both sides shows
	}{
		{"IPv4 literal", "192.0.2.7:22", "192.0.2.7", 1936431214},
		{"IPv4 loopback literal", "127.0.0.1:22", "127.0.0.1", 3668918509}, // what blackbox 0.23's binary answers
		{"IPv4-mapped literal", "[::ffff:192.0.2.7]:22", "192.0.2.7", 1936431214},
		{"IPv6 literal", "[2001:db8::7]:22", "2001:db8::7", 1817903566},
		{"IPv6 loopback literal", "[::1]:22", "::1", 1751717746}, // what blackbox 0.23's binary answers
		{"IPv6 link-local with a zone", "[fe80::1%eth0]:22", "fe80::1%eth0", 3766760168},
		{"IPv4 from a name", "www.example.test:22", "192.0.2.7", 1936431214},
		{"IPv4 from a name, 16-byte form", "www.example.test:22", "::ffff:192.0.2.7", 1936431214},
		{"IPv6 from a name", "www.example.test:22", "2001:db8::7", 1817903566},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			target, err := prober.ParseTarget(c.target)
			if err != nil {
				t.Fatal(err)
			}
			dialled := netip.MustParseAddr(c.addr)
			r := prober.Result{Target: target, Addr: netip.AddrPortFrom(dialled, target.Port)}
			got := addrHash(&r)
			if want := blackboxHash(net.IP(dialled.AsSlice())); got != want {
				t.Errorf("addrHash = %v, blackbox's rule gives %v", got, want)
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
