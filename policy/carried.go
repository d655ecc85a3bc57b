package policy

import (
	"fmt"
	"net/netip"
)

// Carried is an IPv4 address an IPv6 address carries: a translator or a
// tunnel on the path may deliver the packet to it, so the policy judges it
// as well as the IPv6 address (docs/security.md, "Addresses
// inside addresses").
type Carried struct {
	Addr netip.Addr // IPv4
	Form string     // how it is carried, e.g. "NAT64 64:ff9b::/96"
}

func (c Carried) String() string { return fmt.Sprintf("%s (%s)", c.Addr, c.Form) }

// Well-known prefixes of the forms that carry an IPv4 address.
var (
	nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96")    // RFC 6052
	nat64LocalUse  = netip.MustParsePrefix("64:ff9b:1::/48")  // RFC 8215
	sixToFour      = netip.MustParsePrefix("2002::/16")       // RFC 3056
	teredo         = netip.MustParsePrefix("2001::/32")       // RFC 4380
	siit           = netip.MustParsePrefix("::ffff:0:0:0/96") // RFC 2765, IPv4-translated
	v4Compatible   = netip.MustParsePrefix("::/96")           // RFC 4291 2.5.5.1, deprecated
)

// localUseLayouts are the NAT64 prefix lengths that fit inside the
// local-use /48; the site picks one, and only its own declaration
// (nat64_prefixes) says which, so each is judged.
var (
	localUseLayouts = [...]int{48, 56, 64, 96}
	localUseForms   = [...]string{"NAT64 64:ff9b:1::/48", "NAT64 64:ff9b:1::/48 as a /56",
		"NAT64 64:ff9b:1::/48 as a /64", "NAT64 64:ff9b:1::/48 as a /96"}
)

// NAT64PrefixLengths are the lengths RFC 6052 (2.2) allows a NAT64 prefix.
var NAT64PrefixLengths = []int{32, 40, 48, 56, 64, 96}

// maxCarried bounds what appendCarried finds in one address: the local-use
// NAT64 prefix's four layouts, an ISATAP identifier and the site's
// prefixes fit; more spill to the heap, which is correct, only slower.
const maxCarried = 8

// appendCarried appends to dst every IPv4 address that a carries, in every
// form this package knows: IPv4-compatible (::a.b.c.d, but not :: and ::1),
// SIIT (::ffff:0:a.b.c.d, under ::ffff:0:0:0/96), NAT64 under the well-known prefix, under the
// local-use prefix (in each RFC 6052 layout that fits it, for its length
// is the site's choice) and under the site's own prefixes (site), 6to4,
// Teredo (the server's address and the client's, which Teredo stores
// inverted) and ISATAP interface identifiers under any prefix. a must be
// an IPv6 address without a zone; an IPv4 address carries nothing.
func appendCarried(dst []Carried, a netip.Addr, site []netip.Prefix) []Carried {
	if !a.Is6() || a.Is4In6() {
		return dst
	}
	b := a.As16()
	switch {
	case v4Compatible.Contains(a):
		if v4 := v4At(b, 12); v4.As4() != [4]byte{0, 0, 0, 0} && v4.As4() != [4]byte{0, 0, 0, 1} {
			dst = append(dst, Carried{v4, "IPv4-compatible ::/96"})
		}
	case siit.Contains(a):
		dst = append(dst, Carried{v4At(b, 12), "SIIT ::ffff:0:0:0/96"})
	case nat64WellKnown.Contains(a):
		dst = append(dst, Carried{v4At(b, 12), "NAT64 64:ff9b::/96"})
	case nat64LocalUse.Contains(a):
		for i, bits := range localUseLayouts {
			dst = append(dst, Carried{rfc6052(b, bits), localUseForms[i]})
		}
	case sixToFour.Contains(a):
		dst = append(dst, Carried{v4At(b, 2), "6to4 2002::/16"})
	case teredo.Contains(a):
		dst = append(dst, Carried{v4At(b, 4), "Teredo 2001::/32, server"})
		c := [4]byte{^b[12], ^b[13], ^b[14], ^b[15]}
		dst = append(dst, Carried{netip.AddrFrom4(c), "Teredo 2001::/32, client"})
	}
	for _, p := range site {
		if p.Contains(a) {
			dst = append(dst, Carried{rfc6052(b, p.Bits()), "NAT64 " + p.String()})
		}
	}
	// ISATAP (RFC 5214): the interface identifier is 0000:5efe or
	// 0200:5efe (the universal bit; the group bit is tolerated too) and the
	// IPv4 address, under any /64.
	if b[8]&^0x03 == 0 && b[9] == 0 && b[10] == 0x5e && b[11] == 0xfe {
		dst = append(dst, Carried{v4At(b, 12), "ISATAP interface identifier ::5efe:0:0/96"})
	}
	return dst
}

func v4At(b [16]byte, i int) netip.Addr {
	return netip.AddrFrom4([4]byte{b[i], b[i+1], b[i+2], b[i+3]})
}

// rfc6052 reads the IPv4 address after a NAT64 prefix of the given length
// (RFC 6052, 2.2): its 32 bits follow the prefix, skipping bits 64 to 71.
func rfc6052(b [16]byte, bits int) netip.Addr {
	var v4 [4]byte
	j := 0
	for i := bits / 8; j < 4; i++ {
		if i == 8 {
			continue // the "u" octet
		}
		v4[j] = b[i]
		j++
	}
	return netip.AddrFrom4(v4)
}

// ParseNAT64Prefix reads a site's NAT64 prefix: an IPv6 CIDR of one of
// NAT64PrefixLengths, with no bits beyond its mask.
func ParseNAT64Prefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("%q is not an IPv6 CIDR such as 2001:db8:64::/96", s)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Errorf("%q has bits set beyond its /%d mask: write %s", s, p.Bits(), m)
	}
	for _, l := range NAT64PrefixLengths {
		if p.Bits() == l {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("%q: a NAT64 prefix is a /32, /40, /48, /56, /64 or /96 (RFC 6052)", s)
}
