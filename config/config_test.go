package config

import (
	"bytes"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

func TestBlackboxModulesLoadUnchanged(t *testing.T) {
	data, err := os.ReadFile("testdata/blackbox.yml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(data)
	if err != nil {
		t.Fatalf("blackbox tcp modules must load unchanged: %v", err)
	}
	for _, name := range []string{"tcp_connect_example", "irc_banner_example", "smtp_starttls", "pop3s_banner", "ssh_banner", "ssh_banner_extract", "tcp_source_ip"} {
		if _, err := c.Lookup(name); err != nil {
			t.Errorf("Lookup(%q): %v", name, err)
		}
	}
	// Modules of other probers load, with a warning, and are refused at probe time.
	for _, name := range []string{"http_2xx_example", "icmp_example", "dns_udp_example", "grpc"} {
		_, err := c.Lookup(name)
		if err == nil || !strings.Contains(err.Error(), "which tcp_verdict_exporter does not implement") {
			t.Errorf("Lookup(%q) = %v, want the unsupported-prober error", name, err)
		}
	}
	if len(c.Warnings) != 4 {
		t.Errorf("got %d warnings, want 4: %q", len(c.Warnings), c.Warnings)
	}
	m := c.Modules["ssh_banner_extract"]
	if got := len(m.TCP.QueryResponse[0].Labels); got != 2 {
		t.Errorf("ssh_banner_extract labels = %d, want 2", got)
	}
	if !m.TCP.QueryResponse[0].Expect.MatchString("SSH-2.0-OpenSSH_9.2p1 Debian-2") {
		t.Error("expect regexp did not compile as written")
	}
	if !c.Modules["pop3s_banner"].TCP.TLS {
		t.Error("pop3s_banner: tls lost")
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte("modules:\n  a:\n    prober: tcp\n  b:\n    prober: tcp\n    tcp:\n      source_ip_address: 127.0.0.1\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		tcp := c.Modules[name].TCP
		if tcp.Hold != DefaultHold || tcp.IPProtocol != "ip6" || !tcp.IPProtocolFallback {
			t.Errorf("module %s: defaults not applied: %+v", name, tcp)
		}
	}
}

// A module's expect is parsed once, when the file loads; a module without
// one has no expectation.
func TestModuleExpectation(t *testing.T) {
	c, err := Parse([]byte("modules:\n  seg:\n    prober: tcp\n    expect: blocked\n  open:\n    prober: tcp\n    expect: ' reachable , dns_error'\n  plain:\n    prober: tcp\n"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"seg": "firewall,unreachable", "open": "connected,closed_by_peer,refused,dns_error", "plain": ""} {
		m, err := c.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Expectation.String(); got != want {
			t.Errorf("module %s: expectation %q, want %q", name, got, want)
		}
	}
}

func TestAddressesDefaults(t *testing.T) {
	c, err := Parse([]byte("modules:\n  def:\n    prober: tcp\n  all:\n    prober: tcp\n    tcp: {addresses: all}\n" +
		"  capped:\n    prober: tcp\n    tcp: {addresses: all, max_addresses: 2}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][2]any{
		"def":    {AddressesFirst, DefaultMaxAddresses},
		"all":    {AddressesAll, DefaultMaxAddresses},
		"capped": {AddressesAll, 2},
	} {
		tcp := c.Modules[name].TCP
		if tcp.Addresses != want[0] || tcp.MaxAddresses != want[1] {
			t.Errorf("module %s: addresses %q, max_addresses %d; want %v", name, tcp.Addresses, tcp.MaxAddresses, want)
		}
	}
}

func TestTraceDefaults(t *testing.T) {
	c, err := Parse([]byte("modules:\n  off:\n    prober: tcp\n  on:\n    prober: tcp\n    timeout: 5s\n    tcp:\n      trace: {enabled: true}\n" +
		"  tuned:\n    prober: tcp\n    tcp:\n      trace:\n        enabled: true\n        max_hops: 30\n        timeout: 2500ms\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Trace{
		"off":   {Enabled: false, MaxHops: 16, Timeout: time.Second},
		"on":    {Enabled: true, MaxHops: 16, Timeout: time.Second},
		"tuned": {Enabled: true, MaxHops: 30, Timeout: 2500 * time.Millisecond},
	}
	for name, w := range want {
		if got := c.Modules[name].TCP.Trace; got != w {
			t.Errorf("module %s: trace = %+v, want %+v", name, got, w)
		}
	}
}

func TestHoldZeroDisables(t *testing.T) {
	c, err := Parse([]byte("modules:\n  a:\n    prober: tcp\n    tcp:\n      hold: 0s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if h := c.Modules["a"].TCP.Hold; h != 0 {
		t.Errorf("hold = %s, want 0", h)
	}
}

func TestBadConfigs(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"empty file", "", "empty"},
		{"no modules", "modules: {}\n", "no modules"},
		{"unknown top key", "modulez:\n  a:\n    prober: tcp\n", "line 1: field modulez not found"},
		{"unknown module key", "modules:\n  a:\n    prober: tcp\n    timout: 5s\n", "line 4: field timout not found"},
		{"unknown tcp key", "modules:\n  a:\n    prober: tcp\n    tcp:\n      holdd: 1s\n", "line 5: field holdd not found"},
		{"unknown query key", "modules:\n  a:\n    prober: tcp\n    tcp:\n      query_response:\n        - expekt: x\n", "line 6: field expekt not found"},
		{"unknown tls key", "modules:\n  a:\n    prober: tcp\n    tcp:\n      tls_config:\n        insecure: true\n", "field insecure not found"},
		{"missing prober", "modules:\n  a:\n    timeout: 5s\n", `module "a": prober is missing`},
		{"unknown prober", "modules:\n  a:\n    prober: smtp\n", `unknown prober "smtp"`},
		{"bad timeout", "modules:\n  a:\n    prober: tcp\n    timeout: soon\n", "line 4"},
		{"timeout below what a probe can use", "modules:\n  a:\n    prober: tcp\n    timeout: 1ms\n", `module "a": timeout 1ms is below 10ms, the least a probe can use`},
		{"negative hold", "modules:\n  a:\n    prober: tcp\n    tcp:\n      hold: -1s\n", "tcp.hold -1s is negative"},
		{"bad ip protocol", "modules:\n  a:\n    prober: tcp\n    tcp:\n      preferred_ip_protocol: ipx\n", `"ipx" is not ip4 or ip6`},
		{"bad source ip", "modules:\n  a:\n    prober: tcp\n    tcp:\n      source_ip_address: 300.1.1.1\n", "is not an IP address"},
		{"bad regexp", "modules:\n  a:\n    prober: tcp\n    tcp:\n      query_response:\n        - expect: \"(\"\n", "bad regexp"},
		{"empty step", "modules:\n  a:\n    prober: tcp\n    tcp:\n      query_response:\n        - labels: []\n", "query_response[0] is empty"},
		{"bad label", "modules:\n  a:\n    prober: tcp\n    tcp:\n      query_response:\n        - expect: x\n          labels: [{name: 1x, value: y}]\n", "not a valid label name"},
		{"tls conflict", "modules:\n  a:\n    prober: tcp\n    tcp:\n      tls_config:\n        ca: x\n        ca_file: y\n", "at most one of ca, ca_file"},
		{"not yaml", "modules: [\n", "parsing YAML"},
		{"unknown trace key", "modules:\n  a:\n    prober: tcp\n    tcp:\n      trace:\n        hops: 3\n", "line 6: field hops not found"},
		{"trace max_hops 0", "modules:\n  a:\n    prober: tcp\n    tcp:\n      trace: {enabled: true, max_hops: 0}\n", "tcp.trace.max_hops 0 is not from 1 to 64"},
		{"trace max_hops 65", "modules:\n  a:\n    prober: tcp\n    tcp:\n      trace: {max_hops: 65}\n", "tcp.trace.max_hops 65 is not from 1 to 64"},
		{"trace timeout 0", "modules:\n  a:\n    prober: tcp\n    tcp:\n      trace: {enabled: true, timeout: 0s}\n", "tcp.trace.timeout 0s must be positive"},
		{"trace timeout beyond timeout", "modules:\n  a:\n    prober: tcp\n    timeout: 1s\n    tcp:\n      trace: {enabled: true}\n", "tcp.trace.timeout 1s must be shorter than timeout 1s"},
		{"addresses unknown", "modules:\n  a:\n    prober: tcp\n    tcp:\n      addresses: every\n", `tcp.addresses "every" is not first or all`},
		{"max_addresses 0", "modules:\n  a:\n    prober: tcp\n    tcp:\n      addresses: all\n      max_addresses: 0\n", "tcp.max_addresses 0 is not from 1 to 64"},
		{"max_addresses 65", "modules:\n  a:\n    prober: tcp\n    tcp:\n      max_addresses: 65\n", "tcp.max_addresses 65 is not from 1 to 64"},
		{"max_addresses not a number", "modules:\n  a:\n    prober: tcp\n    tcp:\n      max_addresses: many\n", "line 5"},
		{"trace enabled not bool", "modules:\n  a:\n    prober: tcp\n    tcp:\n      trace: {enabled: maybe}\n", "line 5"},
		{"attempts 0", "modules:\n  a:\n    prober: tcp\n    tcp:\n      attempts: 0\n", "tcp.attempts 0 is not from 1 to 16"},
		{"attempts 17", "modules:\n  a:\n    prober: tcp\n    tcp:\n      attempts: 17\n", "tcp.attempts 17 is not from 1 to 16"},
		{"attempts not a number", "modules:\n  a:\n    prober: tcp\n    tcp:\n      attempts: many\n", "line 5"},
		{"attempts misspelt", "modules:\n  a:\n    prober: tcp\n    tcp:\n      attempt: 4\n", "line 5: field attempt not found"},
		{"attempts with all addresses", "modules:\n  a:\n    prober: tcp\n    tcp:\n      addresses: all\n      attempts: 2\n", "tcp.attempts 2 cannot be combined with tcp.addresses all"},
		{"bad policy CIDR", "target_policy:\n  deny: [127.0.0.0/8, 10.0.0.0/33]\nmodules:\n  a:\n    prober: tcp\n", `target_policy.deny[1]: "10.0.0.0/33" is not a CIDR`},
		{"policy host bits", "target_policy:\n  allow: [10.1.2.3/8]\nmodules:\n  a:\n    prober: tcp\n", `target_policy.allow[0]: "10.1.2.3/8" has bits set beyond its /8 mask: write 10.0.0.0/8`},
		{"bad module policy", "modules:\n  a:\n    prober: tcp\n    target_policy: {allow: [nowhere]}\n", `modules.a.target_policy.allow[0]: "nowhere" is not an IP address or a CIDR`},
		{"unknown policy key", "target_policy:\n  allowed: [10.0.0.0/8]\nmodules:\n  a:\n    prober: tcp\n", "line 2: field allowed not found"},
		{"unknown expect word", "modules:\n  a:\n    prober: tcp\n    expect: blocked,opn\n", `module "a": expect: unknown word "opn"`},
		{"expect not a string", "modules:\n  a:\n    prober: tcp\n    expect: {firewall: true}\n", "line 4"},
		{"policy not a list", "target_policy:\n  deny: 10.0.0.0/8\nmodules:\n  a:\n    prober: tcp\n", "line 2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	c, err := Parse([]byte("modules:\n  tcp:\n    prober: tcp\n    timeout: 3s\n"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Lookup("")
	if err != nil || m.Timeout != 3*time.Second {
		t.Fatalf("Lookup(\"\") = %+v, %v; want the tcp module", m, err)
	}
	if _, err := c.Lookup("nope"); err == nil || err.Error() != `unknown module "nope"` {
		t.Fatalf("Lookup(nope) error = %v", err)
	}
}

func TestStoreKeepsOldConfigOnBadReload(t *testing.T) {
	path := t.TempDir() + "/c.yml"
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("modules:\n  one:\n    prober: tcp\n")
	s, err := NewStore(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !s.LastReloadSuccessful() || s.LastSuccessUnix() == 0 {
		t.Fatal("first load not recorded as successful")
	}
	write("modules:\n  two:\n    prober: nope\n")
	if err := s.Reload(nil); err == nil {
		t.Fatal("bad reload succeeded")
	}
	if s.LastReloadSuccessful() {
		t.Error("bad reload recorded as successful")
	}
	if _, err := s.Get().Lookup("one"); err != nil {
		t.Errorf("running config lost after a bad reload: %v", err)
	}
	write("modules:\n  two:\n    prober: tcp\n")
	if err := s.Reload(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get().Lookup("two"); err != nil || !s.LastReloadSuccessful() {
		t.Errorf("good reload not applied: %v", err)
	}
}

// Reload logs what happened: the error with the running config kept, or
// the modules and warnings of the new one.
func TestReloadLogs(t *testing.T) {
	path := t.TempDir() + "/c.yml"
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("modules:\n  one:\n    prober: tcp\n")
	s, err := NewStore(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&log, nil))
	write("modules:\n  one:\n    prober: tcp\n    bogus: 1\n")
	if err := s.Reload(logger); err == nil || !strings.Contains(log.String(), "keeping the running one") || !strings.Contains(log.String(), "bogus") {
		t.Errorf("bad reload: err %v, log %q", err, log.String())
	}
	log.Reset()
	write("modules:\n  one:\n    prober: tcp\n  web:\n    prober: http\n")
	if err := s.Reload(logger); err != nil || !strings.Contains(log.String(), "loaded config") || !strings.Contains(log.String(), "prober http") {
		t.Errorf("good reload: err %v, log %q", err, log.String())
	}
	if want := "target_policy_allow=[] target_policy_deny=\"[169.254.0.0/16 fe80::/10 fd00:ec2::254]\""; !strings.Contains(log.String(), want) {
		t.Errorf("the log does not show the policy in effect (%s): %q", want, log.String())
	}
}

func TestResolvedDefaults(t *testing.T) {
	for name, want := range map[string]string{"": DefaultModuleName, "ssh_banner": "ssh_banner"} {
		if got := ModuleName(name); got != want {
			t.Errorf("ModuleName(%q) = %q, want %q", name, got, want)
		}
	}
	for timeout, want := range map[time.Duration]time.Duration{0: DefaultTimeout, 2 * time.Second: 2 * time.Second} {
		m := Module{Timeout: timeout}
		if got := m.ProbeTimeout(); got != want {
			t.Errorf("ProbeTimeout with timeout %s = %s, want %s", timeout, got, want)
		}
	}
}

func TestEmbeddedDefault(t *testing.T) {
	data, err := os.ReadFile("../config.yml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewStore("", data)
	if err != nil {
		t.Fatalf("the shipped config.yml does not load: %v", err)
	}
	if _, err := s.Get().Lookup(DefaultModuleName); err != nil {
		t.Fatalf("config.yml lacks the default module: %v", err)
	}
}

// No file makes Parse panic; what it accepts has every module's defaults
// applied and validated.
func FuzzParse(f *testing.F) {
	blackbox, _ := os.ReadFile("testdata/blackbox.yml")
	shipped, _ := os.ReadFile("../config.yml")
	for _, seed := range [][]byte{blackbox, shipped, []byte("modules:\n  a:\n    prober: tcp\n"), []byte("modules: [\n"), []byte("modules:\n  a:\n    prober: tcp\n    tcp:\n      hold: -1s\n"),
		[]byte("target_policy:\n  allow: [10.0.0.0/8, \"::ffff:127.0.0.1\"]\n  deny: [127.0.0.0/8]\nmodules:\n  a:\n    prober: tcp\n    target_policy: {deny: [\"2001:db8::/32\"]}\n")} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			return
		}
		for name, m := range c.Modules {
			if m.Prober == "tcp" && (m.TCP.Hold < 0 || m.TCP.IPProtocol == "") {
				t.Errorf("module %q accepted without defaults or validation: %+v", name, m.TCP)
			}
			if m.Prober == "tcp" && (len(m.Policy) == 0 || m.Policy[0] == nil) {
				t.Errorf("module %q accepted without the file's target policy", name)
			}
		}
	})
}

// A blackbox module with a timeout no longer than the default hold loads,
// with a warning that the deadline cuts the hold.
func TestShortTimeoutLoadsWithWarning(t *testing.T) {
	c, err := Parse([]byte("modules:\n  quick:\n    prober: tcp\n    timeout: 500ms\n"))
	if err != nil {
		t.Fatalf("a blackbox module with timeout 500ms must load: %v", err)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "tcp.hold 500ms is not shorter than timeout 500ms") {
		t.Fatalf("warnings = %q", c.Warnings)
	}
}

func TestAttemptsDefaults(t *testing.T) {
	c, err := Parse([]byte("modules:\n  def:\n    prober: tcp\n  eight:\n    prober: tcp\n    tcp: {attempts: 8}\n  max:\n    prober: tcp\n    tcp: {attempts: 16}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{"def": DefaultAttempts, "eight": 8, "max": MaxAttempts} {
		if got := c.Modules[name].TCP.Attempts; got != want {
			t.Errorf("module %s: attempts %d, want %d", name, got, want)
		}
	}
}
