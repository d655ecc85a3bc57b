package policy

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseEntry(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "10.0.0.0/8", want: "10.0.0.0/8"},
		{in: " 127.0.0.0/8 ", want: "127.0.0.0/8"},
		{in: "192.0.2.1", want: "192.0.2.1/32"},
		{in: "2001:db8::/32", want: "2001:db8::/32"},
		{in: "::1", want: "::1/128"},
		{in: "0.0.0.0/0", want: "0.0.0.0/0"},
		{in: "::/0", want: "::/0"},
		// v4-mapped entries become IPv4: addresses are unmapped before the check.
		{in: "::ffff:127.0.0.1", want: "127.0.0.1/32"},
		{in: "::ffff:127.0.0.0/104", want: "127.0.0.0/8"},
		{in: "::ffff:0.0.0.0/96", want: "0.0.0.0/0"},
		{in: "", err: "empty entry"},
		{in: "10.0.0.0/33", err: `"10.0.0.0/33" is not a CIDR`},
		{in: "10.0.0/8", err: `"10.0.0/8" is not a CIDR`},
		{in: "10.0.0.1/8", err: `"10.0.0.1/8" has bits set beyond its /8 mask: write 10.0.0.0/8`},
		{in: "2001:db8::1/32", err: "write 2001:db8::/32"},
		{in: "example.com", err: `"example.com" is not an IP address or a CIDR`},
		{in: "fe80::1%eth0", err: "has a zone"},
		{in: "fe80::%eth0/10", err: "is not a CIDR"},
	} {
		e, err := ParseEntry(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseEntry(%q) = %v, %v; want error containing %q", tc.in, e.Prefix, err, tc.err)
			}
			continue
		}
		if err != nil || e.Prefix.String() != tc.want {
			t.Errorf("ParseEntry(%q) = %v, %v; want %s", tc.in, e.Prefix, err, tc.want)
		}
		if e.Text != strings.TrimSpace(tc.in) {
			t.Errorf("ParseEntry(%q).Text = %q, want the entry as written", tc.in, e.Text)
		}
	}
}

func TestParseNamesTheEntry(t *testing.T) {
	_, err := Parse("modules.ssh.target_policy", []string{"10.0.0.0/8"}, []string{"127.0.0.0/8", "bogus"})
	want := `modules.ssh.target_policy.deny[1]: "bogus" is not an IP address or a CIDR`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
	_, err = Parse("target_policy", []string{"10.0.0.0/33"}, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "target_policy.allow[0]: ") {
		t.Errorf("err = %v, want it to name target_policy.allow[0]", err)
	}
}

func mustParse(t *testing.T, name string, allow, deny []string) *Policy {
	t.Helper()
	p, err := Parse(name, allow, deny)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheck(t *testing.T) {
	global := mustParse(t, "target_policy",
		[]string{"10.0.0.0/8", "2001:db8::/32", "127.0.0.1"},
		[]string{"169.254.0.0/16", "127.0.0.0/8", "10.9.0.0/16", "2001:db8:dead::/48"})
	denyOnly := mustParse(t, "target_policy", nil, []string{"169.254.0.0/16", "fe80::/10", "::1"})
	module := mustParse(t, "modules.ssh.target_policy", []string{"10.1.0.0/16"}, nil)

	for _, tc := range []struct {
		name  string
		chain Chain
		addr  string
		want  string // "" allowed, else the refusal's Error
	}{
		{"allowed by allow", Chain{global}, "10.1.2.3", ""},
		{"allowed v6", Chain{global}, "2001:db8::1", ""},
		{"deny wins over allow", Chain{global}, "10.9.1.1", "target 10.9.1.1 refused by target_policy.deny 10.9.0.0/16"},
		{"deny wins over a single allowed address", Chain{global}, "127.0.0.1", "target 127.0.0.1 refused by target_policy.deny 127.0.0.0/8"},
		{"allow-only mode refuses the rest", Chain{global}, "192.0.2.1", "target 192.0.2.1 refused by target_policy.allow (the address is in none of its entries)"},
		{"allow-only mode, v6", Chain{global}, "2001:db9::1", "target 2001:db9::1 refused by target_policy.allow (the address is in none of its entries)"},
		{"v6 deny", Chain{global}, "2001:db8:dead::5", "target 2001:db8:dead::5 refused by target_policy.deny 2001:db8:dead::/48"},
		{"v4-mapped is judged as IPv4", Chain{global}, "::ffff:127.0.0.1", "target 127.0.0.1 refused by target_policy.deny 127.0.0.0/8"},
		{"v4-mapped allowed as IPv4", Chain{global}, "::ffff:10.1.2.3", ""},
		{"IPv4 entries judge the IPv4 an IPv6 address carries", Chain{denyOnly}, "::a9fe:a9fe", "target ::a9fe:a9fe refused by target_policy.deny 169.254.0.0/16: it carries 169.254.169.254 (IPv4-compatible ::/96)"},
		{"IPv4 entries never hold plain IPv6", Chain{denyOnly}, "2001:db8::a9fe:a9fe", ""},
		{"deny-only allows the rest", Chain{denyOnly}, "127.0.0.1", ""},
		{"deny-only, metadata", Chain{denyOnly}, "169.254.169.254", "target 169.254.169.254 refused by target_policy.deny 169.254.0.0/16"},
		{"a zone does not escape a deny", Chain{denyOnly}, "fe80::1%eth0", "target fe80::1 refused by target_policy.deny fe80::/10"},
		{"single v6 address", Chain{denyOnly}, "::1", "target ::1 refused by target_policy.deny ::1"},
		{"module narrows: allowed by both", Chain{global, module}, "10.1.2.3", ""},
		{"module narrows: global allows, module does not", Chain{global, module}, "10.2.0.1", "target 10.2.0.1 refused by modules.ssh.target_policy.allow (the address is in none of its entries)"},
		{"module narrows: global denies first", Chain{global, module}, "169.254.169.254", "target 169.254.169.254 refused by target_policy.deny 169.254.0.0/16"},
		{"empty chain allows", nil, "169.254.169.254", ""},
		{"nil policy allows", Chain{nil}, "127.0.0.1", ""},
		{"invalid address refused", nil, "", "target invalid IP refused by target_policy.deny (not an IP address)"},
		{"unspecified refused whatever the policy", nil, "0.0.0.0", "target 0.0.0.0 refused by the built-in rule: 0.0.0.0 is the unspecified address, which connect() takes for this host"},
		{"IPv6 unspecified refused", Chain{denyOnly}, "::", "target :: refused by the built-in rule: :: is the unspecified address, which connect() takes for this host"},
		{"v4-mapped unspecified refused", Chain{global}, "::ffff:0.0.0.0", "target 0.0.0.0 refused by the built-in rule: 0.0.0.0 is the unspecified address, which connect() takes for this host"},
		{"broadcast refused", Chain{nil}, "255.255.255.255", "target 255.255.255.255 refused by the built-in rule: 255.255.255.255 is the broadcast address; TCP needs a unicast one"},
		{"multicast refused", nil, "224.0.0.1", "target 224.0.0.1 refused by the built-in rule: 224.0.0.1 is a multicast address; TCP needs a unicast one"},
		{"IPv6 multicast refused", nil, "ff02::1", "target ff02::1 refused by the built-in rule: ff02::1 is a multicast address; TCP needs a unicast one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a netip.Addr
			if tc.addr != "" {
				a = netip.MustParseAddr(tc.addr)
			}
			r := tc.chain.Check(a)
			got := ""
			if r != nil {
				got = r.Error()
			}
			if got != tc.want {
				t.Errorf("Check(%s) = %q, want %q", tc.addr, got, tc.want)
			}
		})
	}
}

// Every form of IPv6 address that carries an IPv4 address is judged by the
// IPv4 address too, and deny wins (issue 18, item 1): with the default
// deny list, each of these reaches 169.254.169.254 through a translator
// or a tunnel.
func TestCheckCarriedIPv4(t *testing.T) {
	metadata := mustParse(t, "target_policy", nil, []string{"169.254.0.0/16", "fe80::/10"})
	site := mustParse(t, "target_policy", nil, []string{"169.254.0.0/16"})
	site.NAT64 = []netip.Prefix{netip.MustParsePrefix("2001:db8:64::/96"), netip.MustParsePrefix("2001:db8:122::/48")}
	allowOnly := mustParse(t, "target_policy", []string{"10.0.0.0/8", "64:ff9b::/96", "2002::/16"}, nil)
	const deny = "target_policy.deny 169.254.0.0/16: it carries 169.254.169.254 "
	for _, tc := range []struct {
		name string
		pol  *Policy
		addr string
		want string // "" allowed, else the refusal's Error after "target ADDR refused by "
	}{
		{"IPv4-compatible", metadata, "::a9fe:a9fe", deny + "(IPv4-compatible ::/96)"},
		{"IPv4-compatible, dotted", metadata, "::169.254.169.254", deny + "(IPv4-compatible ::/96)"},
		{"NAT64 well-known", metadata, "64:ff9b::a9fe:a9fe", deny + "(NAT64 64:ff9b::/96)"},
		{"NAT64 well-known, dotted", metadata, "64:ff9b::169.254.169.254", deny + "(NAT64 64:ff9b::/96)"},
		{"NAT64 local-use as a /96", metadata, "64:ff9b:1::a9fe:a9fe", deny + "(NAT64 64:ff9b:1::/48 as a /96)"},
		{"NAT64 local-use as a /48", metadata, "64:ff9b:1:a9fe:a9:fe00::", deny + "(NAT64 64:ff9b:1::/48)"},
		{"NAT64 local-use as a /64", metadata, "64:ff9b:1:0:a9:fea9:fe00:0", deny + "(NAT64 64:ff9b:1::/48 as a /64)"},
		{"6to4", metadata, "2002:a9fe:a9fe::1", deny + "(6to4 2002::/16)"},
		{"Teredo client", metadata, "2001:0:4136:e378:8000:63bf:5601:5601", deny + "(Teredo 2001::/32, client)"},
		{"Teredo server", metadata, "2001:0:a9fe:a9fe:8000:63bf:3fff:fdd2", deny + "(Teredo 2001::/32, server)"},
		{"ISATAP", metadata, "2001:db8:1:2:0:5efe:a9fe:a9fe", deny + "(ISATAP interface identifier ::5efe:0:0/96)"},
		{"ISATAP, universal bit", metadata, "2001:db8:1:2:200:5efe:a9fe:a9fe", deny + "(ISATAP interface identifier ::5efe:0:0/96)"},
		{"ISATAP under a link-local prefix: the IPv6 deny first", metadata, "fe80::5efe:a9fe:a9fe", "target_policy.deny fe80::/10"},
		{"SIIT", metadata, "::ffff:0:a9fe:a9fe", deny + "(SIIT ::ffff:0:0:0/96)"},
		{"site NAT64 /96", site, "2001:db8:64::a9fe:a9fe", deny + "(NAT64 2001:db8:64::/96)"},
		{"site NAT64 /48 (RFC 6052 layout)", site, "2001:db8:122:a9fe:a9:fe00::", deny + "(NAT64 2001:db8:122::/48)"},
		{"undeclared prefix carries nothing", metadata, "2001:db8:64::a9fe:a9fe", ""},
		{"loopback :: and ::1 are not IPv4-compatible", metadata, "::1", ""},
		{"NAT64 of an allowed address", metadata, "64:ff9b::a00:1", ""},
		{"Teredo of allowed addresses", metadata, "2001:0:4136:e378:8000:63bf:3fff:fdd2", ""},
		// Every form must pass the allow list: the IPv6 address and the
		// IPv4 address it reaches.
		{"allow: NAT64 to an allowed IPv4", allowOnly, "64:ff9b::a01:203", ""},
		{"allow: NAT64 to an IPv4 outside the list", allowOnly, "64:ff9b::808:808", "target_policy.allow (the address is in none of its entries): it carries 8.8.8.8 (NAT64 64:ff9b::/96)"},
		{"allow: 6to4 to an IPv4 outside the list", allowOnly, "2002:808:808::1", "target_policy.allow (the address is in none of its entries): it carries 8.8.8.8 (6to4 2002::/16)"},
		{"allow: the IPv6 form outside the list", allowOnly, "::a01:203", "target_policy.allow (the address is in none of its entries)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := netip.MustParseAddr(tc.addr)
			got := ""
			if r := tc.pol.Check(a); r != nil {
				got = strings.TrimPrefix(r.Error(), "target "+a.String()+" refused by ")
			}
			if got != tc.want {
				t.Errorf("Check(%s) = %q, want %q", tc.addr, got, tc.want)
			}
		})
	}
}

// The NAT64 layouts of RFC 6052 (2.4, its table of examples): 192.0.2.33
// under each prefix length.
func TestRFC6052Layouts(t *testing.T) {
	for _, tc := range []struct{ prefix, addr string }{
		{"2001:db8::/32", "2001:db8:c000:221::"},
		{"2001:db8:100::/40", "2001:db8:1c0:2:21::"},
		{"2001:db8:122::/48", "2001:db8:122:c000:2:2100::"},
		{"2001:db8:122:300::/56", "2001:db8:122:3c0:0:221::"},
		{"2001:db8:122:344::/64", "2001:db8:122:344:c0:2:2100:0"},
		{"2001:db8:122:344::/96", "2001:db8:122:344::192.0.2.33"},
	} {
		p, err := ParseNAT64Prefix(tc.prefix)
		if err != nil {
			t.Fatal(err)
		}
		got := appendCarried(nil, netip.MustParseAddr(tc.addr), []netip.Prefix{p})
		if len(got) != 1 || got[0].Addr != netip.MustParseAddr("192.0.2.33") {
			t.Errorf("%s under %s: carried %v, want 192.0.2.33", tc.addr, tc.prefix, got)
		}
	}
	for _, bad := range []string{"2001:db8::/33", "2001:db8::1/96", "10.0.0.0/8", "::ffff:0:0/96", "nonsense"} {
		if _, err := ParseNAT64Prefix(bad); err == nil {
			t.Errorf("ParseNAT64Prefix(%q) accepted", bad)
		}
	}
}

// The check stays free of allocations for an allowed IPv6 address that
// carries an IPv4 address, with a site prefix declared.
func TestCheckCarriedAllocatesNothing(t *testing.T) {
	p := mustParse(t, "target_policy", nil, []string{"169.254.0.0/16", "fe80::/10"})
	p.NAT64 = []netip.Prefix{netip.MustParsePrefix("2001:db8:64::/96")}
	chain := Chain{p, mustParse(t, "modules.m.target_policy", nil, []string{"10.9.0.0/16"})}
	a := netip.MustParseAddr("64:ff9b:1::a00:1")
	if n := testing.AllocsPerRun(100, func() {
		if r := chain.Check(a); r != nil {
			t.Fatal(r)
		}
	}); n != 0 {
		t.Errorf("Check allocates %v times per call", n)
	}
}

func TestRefusalIsOneLine(t *testing.T) {
	p := mustParse(t, "target_policy", nil, []string{"127.0.0.0/8"})
	r := p.Check(netip.MustParseAddr("127.0.0.1"))
	if r == nil || strings.ContainsAny(r.Error(), "\r\n") {
		t.Fatalf("refusal %v: want one line", r)
	}
	if r.Rule.List != "deny" || r.Rule.Entry.Prefix != netip.MustParsePrefix("127.0.0.0/8") {
		t.Errorf("rule = %+v, want the deny entry 127.0.0.0/8", r.Rule)
	}
}

// BenchmarkCheck measures the check every probe pays: the recommended policy of
// docs/security.md, "Target policy": an allowed address (every list walked).
func BenchmarkCheck(b *testing.B) {
	p, err := Parse("target_policy", []string{"10.20.0.0/16", "2001:db8:20::/48"},
		[]string{"169.254.0.0/16", "fe80::/10", "fd00:ec2::254", "127.0.0.0/8", "::1", "10.20.0.5"})
	if err != nil {
		b.Fatal(err)
	}
	chain := Chain{p}
	a := netip.MustParseAddr("10.20.3.4")
	b.ReportAllocs()
	for b.Loop() {
		if chain.Check(a) != nil {
			b.Fatal("refused")
		}
	}
}
