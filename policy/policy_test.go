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
		{"IPv4 entries never hold IPv6", Chain{denyOnly}, "::a9fe:a9fe", ""},
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
