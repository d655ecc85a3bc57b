package policy

import (
	"net/netip"
	"strings"
	"testing"
)

// FuzzParseEntry checks that any entry either fails with a one-line error or
// yields a masked, unmapped prefix whose matching agrees with a bit-by-bit
// comparison, for any address.
func FuzzParseEntry(f *testing.F) {
	for _, seed := range [][2]string{
		{"10.0.0.0/8", "10.1.2.3"}, {"127.0.0.1", "::ffff:127.0.0.1"}, {"::ffff:127.0.0.0/104", "127.9.9.9"},
		{"2001:db8::/32", "2001:db8::1"}, {"fe80::/10", "fe80::1%eth0"}, {"10.0.0.1/8", "10.0.0.1"},
		{"", ""}, {"::/0", "1.2.3.4"}, {"0.0.0.0/0", "::1"}, {"1.2.3.4/", "x"}, {"::ffff:1.2.3.4/95", "1.2.3.4"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, entry, addr string) {
		e, err := ParseEntry(entry)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("error %q spans lines", err)
			}
			return
		}
		p := e.Prefix
		if !p.IsValid() || p.Masked() != p || p.Addr().Zone() != "" {
			t.Fatalf("ParseEntry(%q) = %v: not a valid masked prefix", entry, p)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			t.Fatalf("ParseEntry(%q) = %v: still v4-mapped", entry, p)
		}
		a, err := netip.ParseAddr(addr)
		if err != nil {
			return
		}
		pol := &Policy{Name: "target_policy", Deny: []Entry{e}}
		denied := pol.Check(a) != nil
		if want := naiveContains(p, Normalize(a)); denied != want {
			t.Fatalf("deny %v, address %s: refused = %v, want %v", p, a, denied, want)
		}
		allow := &Policy{Name: "target_policy", Allow: []Entry{e}}
		if allowed := allow.Check(a) == nil; allowed != naiveContains(p, Normalize(a)) {
			t.Fatalf("allow %v, address %s: allowed = %v", p, a, allowed)
		}
	})
}

// naiveContains compares the prefix's leading bits one by one.
func naiveContains(p netip.Prefix, a netip.Addr) bool {
	if p.Addr().Is4() != a.Is4() {
		return false
	}
	pb, ab := p.Addr().AsSlice(), a.AsSlice()
	for i := 0; i < p.Bits(); i++ {
		mask := byte(0x80 >> (i % 8))
		if pb[i/8]&mask != ab[i/8]&mask {
			return false
		}
	}
	return true
}
