// Package config loads and validates the exporter's module file. It accepts
// blackbox_exporter's tcp module keys unchanged so existing files load as
// they are, and knows nothing of how probes run or are exported.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	promconfig "github.com/prometheus/common/config"
	"gopkg.in/yaml.v3"

	"github.com/tcp-verdict/tcp_verdict_exporter/policy"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// DefaultModuleName is the module used when a probe names none; ask
// ModuleName rather than testing for "" again.
const DefaultModuleName = "tcp"

// DefaultTimeout bounds a probe whose module sets no timeout; ask
// Module.ProbeTimeout rather than testing for 0 again.
const DefaultTimeout = 10 * time.Second

// ModuleName is the module a probe asking for name uses: name, or
// DefaultModuleName when it names none.
func ModuleName(name string) string {
	if name == "" {
		return DefaultModuleName
	}
	return name
}

// MinProbeTimeout is the least time a probe can use: below it a connect
// to a listening port on the next host, or on loopback under load, runs
// out of time and would read as a firewall. A module's timeout, check's
// --timeout and a scrape's share of its timeout below it are refused as
// bad input (docs/security.md, "Deadlines too short to
// probe").
const MinProbeTimeout = 10 * time.Millisecond

// DefaultHold is how long a connected session is watched for the peer
// closing it, when a module does not say.
const DefaultHold = 500 * time.Millisecond

// Path trace defaults and limits (tcp.trace).
const (
	DefaultTraceMaxHops = 16
	DefaultTraceTimeout = time.Second
	MaxTraceHops        = 64
)

// Which addresses of a name a probe dials (tcp.addresses).
const (
	// AddressesFirst dials one address of the preferred family, as
	// blackbox_exporter does.
	AddressesFirst = "first"
	// AddressesAll dials every address of the allowed families at once.
	AddressesAll = "all"
	// DefaultMaxAddresses caps how many addresses AddressesAll dials, and so
	// how many tcp_address_verdict_info series a probe has.
	DefaultMaxAddresses = 8
	// MaxMaxAddresses bounds tcp.max_addresses: each address costs a socket
	// (and a session) per probe.
	MaxMaxAddresses = 64
)

// Connection attempts per probe (tcp.attempts; docs/intermittent.md).
const (
	// DefaultAttempts is one connection per probe, as blackbox_exporter
	// makes.
	DefaultAttempts = 1
	// MaxAttempts bounds tcp.attempts: each attempt costs a socket (and a
	// session) per probe.
	MaxAttempts = 16
)

// Config is a parsed, validated module file.
type Config struct {
	// TargetPolicy limits the addresses every module may dial (docs/security.md,
	// "Target policy"); a module's own can only narrow it.
	TargetPolicy TargetPolicy      `yaml:"target_policy"`
	Modules      map[string]Module `yaml:"modules"`

	// Warnings are problems that do not stop the file from loading, such as
	// modules for probers this exporter does not implement.
	Warnings []string `yaml:"-"`
}

// Module is one named probe configuration.
type Module struct {
	Prober  string        `yaml:"prober"`
	Timeout time.Duration `yaml:"timeout"`
	TCP     TCPProbe      `yaml:"tcp"`
	// TargetPolicy narrows the file's target_policy for this module: an
	// address must pass both. Its deny has no default.
	TargetPolicy *TargetPolicy `yaml:"target_policy"`
	// Policy is what the prober checks every address against: the file's
	// target_policy, then the module's. Parse fills it in.
	Policy policy.Chain `yaml:"-"`
	// Expect is the module's default expectation, as written: classes and
	// aliases, comma-separated (docs/expectations.md); a probe's own expect
	// parameter wins. Expectation is it parsed; Parse fills it in.
	Expect      string              `yaml:"expect"`
	Expectation verdict.Expectation `yaml:"-"`

	// Other probers' sections are accepted, so that a blackbox_exporter file
	// loads, but never read.
	HTTP any `yaml:"http"`
	ICMP any `yaml:"icmp"`
	DNS  any `yaml:"dns"`
	GRPC any `yaml:"grpc"`
}

// TCPProbe carries blackbox_exporter's tcp keys plus our own hold.
type TCPProbe struct {
	IPProtocol         string               `yaml:"preferred_ip_protocol"`
	IPProtocolFallback bool                 `yaml:"ip_protocol_fallback"`
	SourceIPAddress    string               `yaml:"source_ip_address"`
	QueryResponse      []QueryResponse      `yaml:"query_response"`
	TLS                bool                 `yaml:"tls"`
	TLSConfig          promconfig.TLSConfig `yaml:"tls_config"`
	// Hold is how long to watch an established session for the peer closing
	// it; 0 disables the watch.
	Hold time.Duration `yaml:"hold"`
	// Trace locates the hop where a failed connection dies.
	Trace Trace `yaml:"trace"`
	// Addresses is AddressesFirst or AddressesAll; MaxAddresses caps the
	// addresses AddressesAll dials.
	Addresses    string `yaml:"addresses"`
	MaxAddresses int    `yaml:"max_addresses"`
	// Attempts is how many connections the probe makes at once, each from
	// its own source port, so that each lands in its own bucket of a
	// per-flow hash (ECMP, LAG, a load balancer's pool): from 1 to
	// MaxAttempts (docs/intermittent.md).
	Attempts int `yaml:"attempts"`
	// ControlPorts are ports of the same host that the path lets through
	// (open or closed, both answer): after a refused or silent connect the
	// prober asks them how far away the host is and whether it answers at
	// all (docs/host-evidence.md). Empty: nothing beyond the probe is sent.
	ControlPorts ControlPorts `yaml:"control_ports"`
}

// MaxControlPorts bounds tcp.control_ports: each costs a socket per
// silent probe, and a few tell as much as many.
const MaxControlPorts = 4

// ControlPorts is tcp.control_ports, validated as it decodes so that an
// error names the line.
type ControlPorts []uint16

// UnmarshalYAML reads a list of ports: each from 1 to 65535, at most
// MaxControlPorts, none twice.
func (cp *ControlPorts) UnmarshalYAML(n *yaml.Node) error {
	const key = "tcp.control_ports"
	if n.Kind != yaml.SequenceNode {
		return fmt.Errorf("line %d: %s must be a list of ports, e.g. [22, 443]", n.Line, key)
	}
	if len(n.Content) > MaxControlPorts {
		return fmt.Errorf("line %d: %s lists %d ports; at most %d", n.Line, key, len(n.Content), MaxControlPorts)
	}
	ports := make(ControlPorts, 0, len(n.Content))
	for i, item := range n.Content {
		var port int
		if item.Kind != yaml.ScalarNode || item.ShortTag() != "!!int" || item.Decode(&port) != nil {
			return fmt.Errorf("line %d: %s[%d] %q is not a port number", item.Line, key, i, item.Value)
		}
		if port < 1 || port > 65535 {
			return fmt.Errorf("line %d: %s[%d] %d is not a port from 1 to 65535", item.Line, key, i, port)
		}
		if slices.Contains(ports, uint16(port)) {
			return fmt.Errorf("line %d: %s[%d] %d is listed twice", item.Line, key, i, port)
		}
		ports = append(ports, uint16(port))
	}
	*cp = ports
	return nil
}

// Trace is tcp.trace: when a connect fails with a network verdict (firewall
// or unreachable), send one TCP SYN per TTL from 1 to MaxHops at once and
// read who answers each. Its Timeout is reserved out of the probe's
// deadline, so a traced probe never outlives the scrape.
type Trace struct {
	Enabled bool          `yaml:"enabled"`
	MaxHops int           `yaml:"max_hops"`
	Timeout time.Duration `yaml:"timeout"` // how long the trace waits for answers
}

// QueryResponse is one step of a scripted exchange, as in blackbox_exporter.
type QueryResponse struct {
	Expect      Regexp  `yaml:"expect"`
	ExpectBytes string  `yaml:"expect_bytes"`
	Labels      []Label `yaml:"labels"`
	Send        string  `yaml:"send"`
	StartTLS    bool    `yaml:"starttls"`
}

// Label is a label filled from an expect regexp's match (probe_expect_info).
type Label struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

// Regexp is a regular expression that unmarshals from a YAML string.
type Regexp struct {
	*regexp.Regexp
	original string
}

// UnmarshalYAML compiles the regexp. It uses the function form of the
// interface so that the decoder's strict mode reaches nested values.
func (r *Regexp) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err != nil {
		return err
	}
	re, err := regexp.Compile(s)
	if err != nil {
		return fmt.Errorf("bad regexp %q: %w", s, err)
	}
	r.Regexp, r.original = re, s
	return nil
}

// MarshalYAML writes the regexp back as written.
func (r Regexp) MarshalYAML() (any, error) { return r.original, nil }

// DefaultModule holds the values a module starts from before its YAML is
// applied; they match blackbox_exporter's where the key is shared.
var DefaultModule = Module{
	TCP: TCPProbe{IPProtocol: "ip6", IPProtocolFallback: true, Hold: DefaultHold,
		Trace:     Trace{MaxHops: DefaultTraceMaxHops, Timeout: DefaultTraceTimeout},
		Addresses: AddressesFirst, MaxAddresses: DefaultMaxAddresses, Attempts: DefaultAttempts},
}

// UnmarshalYAML applies the defaults, then the YAML; Parse validates the
// module afterwards, once the whole file has decoded.
func (m *Module) UnmarshalYAML(unmarshal func(any) error) error {
	*m = DefaultModule
	type plain Module
	return unmarshal((*plain)(m))
}

// Probers this exporter implements, and those it accepts in a file but
// answers with an explanation.
var (
	supportedProbers = map[string]bool{"tcp": true}
	knownProbers     = map[string]bool{"http": true, "icmp": true, "dns": true, "grpc": true, "udp": true}
)

// ErrUnknownModule is returned by Lookup for a module the file lacks.
var ErrUnknownModule = errors.New("unknown module")

// Parse reads a module file's content. Unknown keys are errors naming the
// key and its line; so is every invalid value.
func Parse(data []byte) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	c := &Config{}
	if err := dec.Decode(c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the file is empty: it needs a modules: section")
		}
		return nil, fmt.Errorf("parsing YAML: %s", tidyYAMLError(err))
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Load reads and parses a module file; relative TLS file paths are taken
// from the file's folder, as Prometheus does.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	dir := filepath.Dir(path)
	for name, m := range c.Modules {
		m.TCP.TLSConfig.SetDirectory(dir)
		c.Modules[name] = m
	}
	return c, nil
}

// tidyYAMLError replaces the decoder's internal type names with words.
func tidyYAMLError(err error) string {
	s := strings.ReplaceAll(err.Error(), "yaml: unmarshal errors:\n  ", "")
	s = strings.ReplaceAll(s, "\n  ", "; ")
	// A quoted value may hold a newline: keep the error on one line.
	s = strings.ReplaceAll(s, "\n", `\n`)
	s = goTypeName.ReplaceAllString(s, "")
	return strings.TrimPrefix(s, "yaml: ")
}

// goTypeName is the Go type yaml.v3 names in its errors, of no use to the
// file's author.
var goTypeName = regexp.MustCompile(` in type [\w.*]+`)

func (c *Config) validate() error {
	if len(c.Modules) == 0 {
		return errors.New("no modules defined: the file needs a modules: section with at least one module")
	}
	warn := func(w string) { c.Warnings = append(c.Warnings, w) }
	global, err := c.TargetPolicy.parse("target_policy", true, warn)
	if err != nil {
		return err
	}
	if len(c.TargetPolicy.Deny) == 0 && (c.TargetPolicy.deny.line == 0 || c.TargetPolicy.deny.null) {
		// As in effect, for the log line that shows it (Store.LogLoaded).
		c.TargetPolicy.Deny = slices.Clone(DefaultTargetDeny)
	}
	names := make([]string, 0, len(c.Modules))
	for name := range c.Modules {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		m := c.Modules[name]
		switch {
		case m.Prober == "":
			return fmt.Errorf("module %q: prober is missing (use prober: tcp)", name)
		case knownProbers[m.Prober]:
			c.Warnings = append(c.Warnings, fmt.Sprintf("module %q uses prober %s, which tcp_verdict_exporter does not implement; probes with it will be refused", name, m.Prober))
			continue
		case !supportedProbers[m.Prober]:
			return fmt.Errorf("module %q: unknown prober %q (tcp_verdict_exporter implements tcp)", name, m.Prober)
		}
		if err := m.validate(); err != nil {
			return fmt.Errorf("module %q: %w", name, err)
		}
		m.Policy = policy.Chain{global}
		if m.TargetPolicy != nil {
			if len(m.TargetPolicy.NAT64Prefixes) > 0 {
				return fmt.Errorf("module %q: target_policy.nat64_prefixes belongs in the file's target_policy: a site's NAT64 prefix concerns every module", name)
			}
			own, err := m.TargetPolicy.parse("modules."+name+".target_policy", false, warn)
			if err != nil {
				return err
			}
			m.Policy = append(m.Policy, own)
		}
		// Not an error: blackbox modules with a short timeout must load
		// unchanged, and the deadline cuts the hold anyway.
		if m.Timeout > 0 && m.TCP.Hold >= m.Timeout {
			c.Warnings = append(c.Warnings, fmt.Sprintf("module %q: tcp.hold %s is not shorter than timeout %s: the deadline cuts the hold, so a session the peer closes later counts as connected (set tcp.hold below the timeout)", name, m.TCP.Hold, m.Timeout))
		}
		c.Modules[name] = m // validate filled in defaults
	}
	return nil
}

func (m *Module) validate() error {
	if m.Timeout < 0 {
		return fmt.Errorf("timeout %s is negative", m.Timeout)
	}
	if m.Timeout > 0 && m.Timeout < MinProbeTimeout {
		return fmt.Errorf("timeout %s is below %s, the least a probe can use", m.Timeout, MinProbeTimeout)
	}
	e, err := verdict.ParseExpectation(m.Expect)
	if err != nil {
		return err // it names the key
	}
	m.Expectation = e
	t := &m.TCP
	if t.Hold < 0 {
		return fmt.Errorf("tcp.hold %s is negative (use 0s to disable the hold)", t.Hold)
	}
	switch t.IPProtocol {
	case "ip4", "ip6":
	case "":
		t.IPProtocol = DefaultModule.TCP.IPProtocol
	default:
		return fmt.Errorf("tcp.preferred_ip_protocol %q is not ip4 or ip6", t.IPProtocol)
	}
	if err := t.Trace.validate(m.Timeout); err != nil {
		return err
	}
	switch t.Addresses {
	case AddressesFirst, AddressesAll:
	default:
		return fmt.Errorf("tcp.addresses %q is not %s or %s", t.Addresses, AddressesFirst, AddressesAll)
	}
	if t.MaxAddresses < 1 || t.MaxAddresses > MaxMaxAddresses {
		return fmt.Errorf("tcp.max_addresses %d is not from 1 to %d", t.MaxAddresses, MaxMaxAddresses)
	}
	if err := t.validateAttempts(); err != nil {
		return err
	}
	if t.SourceIPAddress != "" {
		if _, err := netip.ParseAddr(t.SourceIPAddress); err != nil {
			return fmt.Errorf("tcp.source_ip_address %q is not an IP address", t.SourceIPAddress)
		}
	}
	if err := t.TLSConfig.Validate(); err != nil {
		return fmt.Errorf("tcp.tls_config: %w", err)
	}
	for i, qr := range t.QueryResponse {
		if qr.Expect.Regexp == nil && qr.ExpectBytes == "" && qr.Send == "" && !qr.StartTLS {
			return fmt.Errorf("tcp.query_response[%d] is empty: give expect, expect_bytes, send or starttls", i)
		}
		if len(qr.Labels) > 0 && qr.Expect.Regexp == nil {
			return fmt.Errorf("tcp.query_response[%d] has labels but no expect to fill them from", i)
		}
		for _, l := range qr.Labels {
			if !labelName.MatchString(l.Name) {
				return fmt.Errorf("tcp.query_response[%d]: %q is not a valid label name", i, l.Name)
			}
		}
	}
	return nil
}

// validate checks tcp.trace, enabled or not, so that turning it on later
// cannot reveal an old mistake.
func (tr *Trace) validate(moduleTimeout time.Duration) error {
	if tr.MaxHops < 1 || tr.MaxHops > MaxTraceHops {
		return fmt.Errorf("tcp.trace.max_hops %d is not from 1 to %d", tr.MaxHops, MaxTraceHops)
	}
	if tr.Timeout <= 0 {
		return fmt.Errorf("tcp.trace.timeout %s must be positive", tr.Timeout)
	}
	if tr.Enabled && moduleTimeout > 0 && tr.Timeout >= moduleTimeout {
		return fmt.Errorf("tcp.trace.timeout %s must be shorter than timeout %s: it is reserved out of the probe's time", tr.Timeout, moduleTimeout)
	}
	return nil
}

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// Lookup returns the named module, or an error a client can act on: the
// module is unknown, or uses a prober this exporter does not implement.
func (c *Config) Lookup(name string) (Module, error) {
	name = ModuleName(name)
	m, ok := c.Modules[name]
	if !ok {
		return Module{}, fmt.Errorf("%w %q", ErrUnknownModule, name)
	}
	if !supportedProbers[m.Prober] {
		return Module{}, fmt.Errorf("module %s uses prober %s, which tcp_verdict_exporter does not implement", name, m.Prober)
	}
	return m, nil
}

// ProbeTimeout is the module's timeout, or DefaultTimeout when it sets none.
func (m *Module) ProbeTimeout() time.Duration {
	if m.Timeout <= 0 {
		return DefaultTimeout
	}
	return m.Timeout
}

// ModuleNames lists the modules in name order.
func (c *Config) ModuleNames() []string {
	names := make([]string, 0, len(c.Modules))
	for n := range c.Modules {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
