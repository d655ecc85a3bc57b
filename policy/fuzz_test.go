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
		// The address is judged with every IPv4 address it carries: a deny
		// entry refuses it when it holds any of them, an allow entry admits
		// it only when it holds all of them; no policy admits an address
		// that is no host.
		n := Normalize(a)
		forms := append([]netip.Addr{n}, carriedAddrs(n)...)
		anyIn, allIn := false, true
		for _, f := range forms {
			in := naiveContains(p, f)
			anyIn = anyIn || in
			allIn = allIn && in
		}
		host := notAHost(n) == ""
		pol := &Policy{Name: "target_policy", Deny: []Entry{e}}
		if denied, want := pol.Check(a) != nil, anyIn || !host; denied != want {
			t.Fatalf("deny %v, address %s: refused = %v, want %v", p, a, denied, want)
		}
		allow := &Policy{Name: "target_policy", Allow: []Entry{e}}
		if allowed, want := allow.Check(a) == nil, allIn && host; allowed != want {
			t.Fatalf("allow %v, address %s: allowed = %v, want %v", p, a, allowed, want)
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

func carriedAddrs(a netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, c := range appendCarried(nil, a, nil) {
		out = append(out, c.Addr)
	}
	return out
}

// FuzzCarried builds, for any IPv4 address, each IPv6 form that carries it
// bit by bit as its RFC lays it out, and checks that the policy finds the
// IPv4 address inside, so a deny entry of that one address refuses the
// IPv6 address.
func FuzzCarried(f *testing.F) {
	f.Add([]byte{169, 254, 169, 254}, uint16(0x4136), uint8(0))
	f.Add([]byte{127, 0, 0, 1}, uint16(0), uint8(3))
	f.Add([]byte{0, 0, 0, 2}, uint16(1), uint8(1))
	f.Fuzz(func(t *testing.T, v4 []byte, salt uint16, layout uint8) {
		if len(v4) != 4 {
			return
		}
		ip := netip.AddrFrom4([4]byte(v4))
		var forms []netip.Addr
		put := func(prefix string, at int) {
			b := netip.MustParseAddr(prefix).As16()
			copy(b[at:], v4)
			forms = append(forms, netip.AddrFrom16(b))
		}
		put("64:ff9b::", 12)
		put("::ffff:0:0:0", 12)
		put("2002::", 2)
		b := netip.MustParseAddr("2001:db8::5efe:0:0").As16()
		b[6], b[7] = byte(salt>>8), byte(salt)
		copy(b[12:], v4)
		forms = append(forms, netip.AddrFrom16(b)) // ISATAP
		t4 := netip.MustParseAddr("2001::").As16()
		copy(t4[4:], v4) // Teredo server
		t4[10], t4[11] = byte(salt>>8), byte(salt)
		for i := range 4 {
			t4[12+i] = ^v4[i] // Teredo client, inverted
		}
		forms = append(forms, netip.AddrFrom16(t4))
		// The local-use NAT64 prefix in one of its layouts: 32 bits after
		// the prefix, skipping bits 64 to 71.
		bits := []int{48, 56, 64, 96}[layout%4]
		l := netip.MustParseAddr("64:ff9b:1::").As16()
		for i, j := bits/8, 0; j < 4; i++ {
			if i != 8 {
				l[i] = v4[j]
				j++
			}
		}
		forms = append(forms, netip.AddrFrom16(l))
		if v4[0] != 0 || v4[1] != 0 || v4[2] != 0 || v4[3] > 1 {
			put("::", 12) // IPv4-compatible, but never :: or ::1
		}
		deny := &Policy{Name: "target_policy", Deny: []Entry{{Prefix: netip.PrefixFrom(ip, 32), Text: ip.String()}}}
		for _, a := range forms {
			if deny.Check(a) == nil {
				t.Errorf("%s carries %s, but a deny of %s lets it pass", a, ip, ip)
			}
		}
	})
}
