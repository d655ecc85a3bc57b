package config

import (
	"net/netip"
	"os"
	"strings"
	"testing"
)

// refusal is what module name's policy says of addr: "" when allowed.
func refusal(t *testing.T, c *Config, module, addr string) string {
	t.Helper()
	m, err := c.Lookup(module)
	if err != nil {
		t.Fatal(err)
	}
	if r := m.Policy.Check(netip.MustParseAddr(addr)); r != nil {
		return r.Error()
	}
	return ""
}

func TestTargetPolicyDefaults(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       map[string]string // address -> refusal ("" allowed)
	}{
		{"absent: loopback allowed, link-local denied", "modules:\n  tcp:\n    prober: tcp\n", map[string]string{
			"127.0.0.1":       "",
			"::1":             "",
			"10.1.2.3":        "",
			"169.254.169.254": "target 169.254.169.254 refused by target_policy.deny 169.254.0.0/16",
			"fe80::1":         "target fe80::1 refused by target_policy.deny fe80::/10",
			"fd00:ec2::254":   "target fd00:ec2::254 refused by target_policy.deny fd00:ec2::254",
		}},
		{"empty section keeps the default deny", "target_policy: {}\nmodules:\n  tcp:\n    prober: tcp\n", map[string]string{
			"169.254.169.254": "target 169.254.169.254 refused by target_policy.deny 169.254.0.0/16",
		}},
		{"null section keeps the default deny", "target_policy:\nmodules:\n  tcp:\n    prober: tcp\n", map[string]string{
			"169.254.169.254": "target 169.254.169.254 refused by target_policy.deny 169.254.0.0/16",
		}},
		{"allow only keeps the default deny", "target_policy:\n  allow: [169.254.0.0/16, 10.0.0.0/8]\nmodules:\n  tcp:\n    prober: tcp\n", map[string]string{
			"10.1.2.3":        "",
			"127.0.0.1":       "target 127.0.0.1 refused by target_policy.allow (the address is in none of its entries)",
			"169.254.169.254": "target 169.254.169.254 refused by target_policy.deny 169.254.0.0/16",
		}},
		{"deny: [] refuses nothing", "target_policy:\n  deny: []\nmodules:\n  tcp:\n    prober: tcp\n", map[string]string{
			"169.254.169.254": "",
			"fe80::1":         "",
		}},
		{"deny replaces the default", "target_policy:\n  deny: [127.0.0.0/8, \"::1\"]\nmodules:\n  tcp:\n    prober: tcp\n", map[string]string{
			"127.0.0.1":        "target 127.0.0.1 refused by target_policy.deny 127.0.0.0/8",
			"::ffff:127.0.0.1": "target 127.0.0.1 refused by target_policy.deny 127.0.0.0/8",
			"::1":              "target ::1 refused by target_policy.deny ::1",
			"169.254.169.254":  "",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			for addr, want := range tc.want {
				if got := refusal(t, c, "tcp", addr); got != want {
					t.Errorf("%s: %q, want %q", addr, got, want)
				}
			}
		})
	}
	if len(DefaultTargetDeny) != 3 {
		t.Errorf("DefaultTargetDeny changed: update the Target policy section of docs/security.md and this test")
	}
}

// A module's policy narrows the file's: an address must pass both, and the
// refusal names the policy that refused it.
func TestModuleTargetPolicyNarrows(t *testing.T) {
	c, err := Parse([]byte(`target_policy:
  allow: [10.0.0.0/8, 127.0.0.1]
  deny: [10.9.0.0/16]
modules:
  wide:
    prober: tcp
  narrow:
    prober: tcp
    target_policy:
      allow: [10.1.0.0/16]
      deny: [10.1.9.0/24]
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ module, addr, want string }{
		{"wide", "10.2.0.1", ""},
		{"wide", "127.0.0.1", ""},
		{"wide", "10.9.0.1", "target 10.9.0.1 refused by target_policy.deny 10.9.0.0/16"},
		{"narrow", "10.1.0.1", ""},
		{"narrow", "10.2.0.1", "target 10.2.0.1 refused by modules.narrow.target_policy.allow (the address is in none of its entries)"},
		{"narrow", "127.0.0.1", "target 127.0.0.1 refused by modules.narrow.target_policy.allow (the address is in none of its entries)"},
		{"narrow", "10.1.9.1", "target 10.1.9.1 refused by modules.narrow.target_policy.deny 10.1.9.0/24"},
		{"narrow", "192.0.2.1", "target 192.0.2.1 refused by target_policy.allow (the address is in none of its entries)"},
	} {
		if got := refusal(t, c, tc.module, tc.addr); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.module, tc.addr, got, tc.want)
		}
	}
	// A module's deny has no default: the file's already applies.
	if n := len(c.Modules["narrow"].Policy[1].Deny); n != 1 {
		t.Errorf("narrow's own deny has %d entries, want 1", n)
	}
}

// Reload swaps the policy with the rest of the file, and a bad policy keeps
// the running one.
func TestReloadSwapsTargetPolicy(t *testing.T) {
	path := t.TempDir() + "/c.yml"
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const modules = "modules:\n  tcp:\n    prober: tcp\n"
	write(modules)
	s, err := NewStore(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := refusal(t, s.Get(), "tcp", "127.0.0.1"); got != "" {
		t.Fatalf("127.0.0.1 refused by the default policy: %s", got)
	}
	before := s.Get()
	write("target_policy:\n  deny: [127.0.0.0/8]\n" + modules)
	if err := s.Reload(nil); err != nil {
		t.Fatal(err)
	}
	if got := refusal(t, s.Get(), "tcp", "127.0.0.1"); got == "" {
		t.Error("reloaded deny of 127.0.0.0/8 not applied")
	}
	if got := refusal(t, before, "tcp", "127.0.0.1"); got != "" {
		t.Error("reload changed the config a probe already holds; it must swap, not mutate")
	}
	write("target_policy:\n  deny: [127.0.0.0/33]\n" + modules)
	if err := s.Reload(nil); err == nil {
		t.Fatal("reload with a bad CIDR succeeded")
	}
	if got := refusal(t, s.Get(), "tcp", "127.0.0.1"); got == "" {
		t.Error("a bad reload dropped the running policy")
	}
}

// The default deny list refuses the metadata address in every form that
// carries it, and a site's NAT64 prefix, declared in the file's section,
// is judged as the well-known one (issue 18, item 1).
func TestTargetPolicyCarriedForms(t *testing.T) {
	c, err := Parse([]byte("target_policy:\n  nat64_prefixes: [\"2001:db8:64::/96\"]\nmodules:\n  tcp:\n    prober: tcp\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"::a9fe:a9fe", "64:ff9b::a9fe:a9fe", "64:ff9b:1::a9fe:a9fe", "2002:a9fe:a9fe::1",
		"2001:0:4136:e378:8000:63bf:5601:5601", "2001:db8::5efe:a9fe:a9fe", "::ffff:0:a9fe:a9fe", "2001:db8:64::a9fe:a9fe"} {
		if got := refusal(t, c, "tcp", addr); !strings.Contains(got, "refused by target_policy.deny 169.254.0.0/16: it carries 169.254.169.254") {
			t.Errorf("%s: %q, want the default deny of 169.254.0.0/16 to refuse it", addr, got)
		}
	}
	for _, tc := range []struct{ yaml, want string }{
		{"target_policy:\n  nat64_prefixes: [\"2001:db8:64::/97\"]\nmodules:\n  tcp:\n    prober: tcp\n", `target_policy.nat64_prefixes[0]: "2001:db8:64::/97": a NAT64 prefix is a /32, /40, /48, /56, /64 or /96`},
		{"modules:\n  tcp:\n    prober: tcp\n    target_policy:\n      nat64_prefixes: [\"2001:db8:64::/96\"]\n", `module "tcp": target_policy.nat64_prefixes belongs in the file's target_policy`},
	} {
		if _, err := Parse([]byte(tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want it to contain %q", err, tc.want)
		}
	}
}

// A policy never fails open (issue 18, item 3): an allow list that was
// written empty (or null, every entry commented out) is a load error
// naming the key and its line, a null deny list is the default one, and
// only an explicit deny: [] refuses nothing, with a warning.
func TestTargetPolicyFailsClosed(t *testing.T) {
	const modules = "modules:\n  tcp:\n    prober: tcp\n"
	for _, tc := range []struct {
		name, yaml string
		err        string // the load error, or "" when it loads
		warning    string
		want       map[string]string // address -> refusal ("" allowed)
	}{
		{name: "allow: []", yaml: "target_policy:\n  allow: []\n" + modules,
			err: "line 2: target_policy.allow is []: an allow list admits only its entries"},
		{name: "allow left null", yaml: "target_policy:\n  allow:\n  #  - 10.0.0.0/8\n  deny: [127.0.0.0/8]\n" + modules,
			err: "line 2: target_policy.allow is null (every entry commented out?)"},
		{name: "a module's allow: []", yaml: modules + "    target_policy:\n      allow: []\n",
			err: "line 5: modules.tcp.target_policy.allow is []"},
		{name: "deny left null is the default", yaml: "target_policy:\n  deny:\n  #  - 127.0.0.0/8\n" + modules,
			warning: "line 2: target_policy.deny is null (every entry commented out?): the default deny list [169.254.0.0/16 fe80::/10 fd00:ec2::254] applies; write deny: [] to refuse nothing",
			want:    map[string]string{"169.254.169.254": "target 169.254.169.254 refused by target_policy.deny 169.254.0.0/16", "127.0.0.1": ""}},
		{name: "deny: [] refuses nothing, loudly", yaml: "target_policy:\n  deny: []\n" + modules,
			warning: "line 2: target_policy.deny is []: no address is refused, not even the cloud metadata ranges of the default list",
			want:    map[string]string{"169.254.169.254": ""}},
		{name: "a module's null deny adds nothing", yaml: modules + "    target_policy:\n      deny:\n",
			want: map[string]string{"169.254.169.254": "target 169.254.169.254 refused by target_policy.deny 169.254.0.0/16", "127.0.0.1": ""}},
		{name: "unknown key", yaml: "target_policy:\n  alow: [10.0.0.0/8]\n" + modules,
			err: "line 2: field alow not found in target_policy (it has allow, deny and nat64_prefixes)"},
		{name: "a key twice", yaml: "target_policy:\n  deny: [10.0.0.0/8]\n  deny: []\n" + modules,
			err: `line 3: mapping key "deny" already defined at line 2`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			warned := false
			for _, w := range c.Warnings {
				warned = warned || strings.HasPrefix(w, tc.warning)
			}
			if tc.warning != "" && !warned || tc.warning == "" && len(c.Warnings) > 0 {
				t.Errorf("warnings %q, want %q", c.Warnings, tc.warning)
			}
			for addr, want := range tc.want {
				if got := refusal(t, c, "tcp", addr); got != want {
					t.Errorf("%s: %q, want %q", addr, got, want)
				}
			}
		})
	}
}
