// Package policy decides which addresses a probe may dial: the target
// policy (docs/security.md, "Target policy"). It is a pure matcher with no I/O, so
// that config can validate a file with it and the prober can ask it about
// every address it is about to dial.
package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Entry is one line of an allow or deny list: a CIDR or a single address.
type Entry struct {
	Prefix netip.Prefix // masked, IPv4 for IPv4 addresses (v4-mapped entries are unmapped)
	Text   string       // as written, so that a refusal quotes the file
}

// ParseEntry reads a CIDR ("10.0.0.0/8", "2001:db8::/32") or a single
// address ("192.0.2.1", "::1"). A v4-mapped entry (::ffff:a.b.c.d, or a
// prefix of at least 96 bits under ::ffff:0:0/96) becomes its IPv4 form,
// because the prober unmaps every address before asking: written as IPv6 it
// would never match. Host bits beyond the mask and zones are errors: both
// are likely typos, and silently masking them would widen the rule.
func ParseEntry(s string) (Entry, error) {
	text := strings.TrimSpace(s)
	if text == "" {
		return Entry{}, errors.New("empty entry: give a CIDR (10.0.0.0/8) or an address (192.0.2.1)")
	}
	var p netip.Prefix
	if strings.Contains(text, "/") {
		var err error
		if p, err = netip.ParsePrefix(text); err != nil {
			return Entry{}, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8 or 2001:db8::/32", text)
		}
		if m := p.Masked(); m != p {
			return Entry{}, fmt.Errorf("%q has bits set beyond its /%d mask: write %s", text, p.Bits(), m)
		}
	} else {
		a, err := netip.ParseAddr(text)
		if err != nil {
			return Entry{}, fmt.Errorf("%q is not an IP address or a CIDR", text)
		}
		if a.Zone() != "" {
			return Entry{}, fmt.Errorf("%q has a zone: write the address without its zone %q", text, "%"+a.Zone())
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return Entry{Prefix: p, Text: text}, nil
}

// Policy is one target_policy section. An address is refused when a Deny
// entry holds it (deny wins), or when Allow is not empty and no Allow entry
// holds it; so is an IPv6 address when any IPv4 address it carries is
// (appendCarried).
type Policy struct {
	// Name is where the section sits in the file, e.g. "target_policy" or
	// "modules.ssh.target_policy"; refusals name the rule with it.
	Name  string
	Allow []Entry // empty: every address that no Deny entry holds
	Deny  []Entry
	// NAT64 are the site's own NAT64 prefixes (nat64_prefixes), beyond the
	// well-known ones: the IPv4 address after them is judged too.
	NAT64 []netip.Prefix
}

// Parse builds a policy from its lists as written. Errors name the list
// and the entry's index, e.g. target_policy.deny[1].
func Parse(name string, allow, deny []string) (*Policy, error) {
	p := &Policy{Name: name}
	var err error
	if p.Allow, err = parseList(name+".allow", allow); err != nil {
		return nil, err
	}
	if p.Deny, err = parseList(name+".deny", deny); err != nil {
		return nil, err
	}
	return p, nil
}

func parseList(where string, list []string) ([]Entry, error) {
	entries := make([]Entry, 0, len(list))
	for i, s := range list {
		e, err := ParseEntry(s)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", where, i, err)
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// Rule is the rule that refused an address: a Deny entry, the Allow list
// as a whole when no entry of it holds the address, or a built-in rule
// that no policy can lift (an address that is no host).
type Rule struct {
	Policy string // the policy's Name
	List   string // "allow", "deny", or "" for a built-in rule
	Entry  Entry  // the matching deny entry; zero for an allow list's miss
	// Builtin says why a built-in rule refuses, e.g. "0.0.0.0 is the
	// unspecified address"; empty for a policy's rule.
	Builtin string
}

func (r Rule) String() string {
	if r.Builtin != "" {
		return "the built-in rule: " + r.Builtin
	}
	if r.List == "allow" {
		return r.Policy + ".allow (the address is in none of its entries)"
	}
	return r.Policy + "." + r.List + " " + r.Entry.Text
}

// Refusal says which rule refused which address. Its Error is the one line
// /probe answers with 403 and the check command prints.
type Refusal struct {
	Addr netip.Addr
	Rule Rule
	// Carried is the IPv4 address inside Addr that the rule refused; its
	// Addr is invalid when the rule refused Addr itself.
	Carried Carried
}

func (r *Refusal) Error() string {
	if r.Carried.Addr.IsValid() {
		return fmt.Sprintf("target %s refused by %s: it carries %s", r.Addr, r.Rule, r.Carried)
	}
	return fmt.Sprintf("target %s refused by %s", r.Addr, r.Rule)
}

// Normalize is the form of an address that policies judge: IPv4 for a
// v4-mapped IPv6 address, and without a zone (netip.Prefix.Contains never
// holds a zoned address, which would let fe80::1%eth0 past a deny).
func Normalize(a netip.Addr) netip.Addr { return a.Unmap().WithZone("") }

// Check returns nil when addr may be dialled, or the refusal naming the
// rule: Chain{p}.Check. A nil policy allows every valid unicast address.
func (p *Policy) Check(addr netip.Addr) *Refusal { return Chain{p}.Check(addr) }

// judge is p's verdict on one address, nil when it passes.
func (p *Policy) judge(a netip.Addr) *Refusal {
	if p == nil {
		return nil
	}
	for _, e := range p.Deny {
		if e.Prefix.Contains(a) {
			return &Refusal{Addr: a, Rule: Rule{Policy: p.Name, List: "deny", Entry: e}}
		}
	}
	if len(p.Allow) == 0 {
		return nil
	}
	for _, e := range p.Allow {
		if e.Prefix.Contains(a) {
			return nil
		}
	}
	return &Refusal{Addr: a, Rule: Rule{Policy: p.Name, List: "allow"}}
}

// notAHost is the built-in rule: the addresses TCP cannot connect to as a
// host, refused whatever the policy says, after resolution as for a
// literal. Linux takes a connect() to the unspecified address for one to
// this host (docs/security.md, "Addresses that are no host").
func notAHost(a netip.Addr) string {
	switch {
	case a.IsUnspecified():
		return a.String() + " is the unspecified address, which connect() takes for this host"
	case a.IsMulticast():
		return a.String() + " is a multicast address; TCP needs a unicast one"
	case a == broadcast:
		return a.String() + " is the broadcast address; TCP needs a unicast one"
	}
	return ""
}

var broadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

func (p *Policy) name() string {
	if p == nil {
		return "target_policy"
	}
	return p.Name
}

// Chain is the policies a probe's addresses must all pass: the file's
// global target_policy, then its module's, which can only narrow it.
type Chain []*Policy

// Check returns the first refusal of addr along the chain, or nil. An
// invalid address is always refused, since it cannot be judged; so is one
// that is no host (notAHost). Then every policy judges the address, and
// every IPv4 address it carries (appendCarried, with the NAT64 prefixes of
// every policy in the chain): one refusal refuses it. It allocates only
// for a refusal.
func (c Chain) Check(addr netip.Addr) *Refusal {
	a := Normalize(addr)
	if !a.IsValid() {
		return &Refusal{Addr: addr, Rule: Rule{Policy: c.name(), List: "deny", Entry: Entry{Text: "(not an IP address)"}}}
	}
	if why := notAHost(a); why != "" {
		return &Refusal{Addr: a, Rule: Rule{Policy: c.name(), Builtin: why}}
	}
	for _, p := range c {
		if r := p.judge(a); r != nil {
			return r
		}
	}
	if !a.Is6() {
		return nil // an IPv4 address carries no other
	}
	var buf [maxCarried]Carried
	for _, in := range appendCarried(buf[:0], a, c.nat64()) {
		for _, p := range c {
			if r := p.judge(in.Addr); r != nil {
				r.Addr, r.Carried = a, in
				return r
			}
		}
	}
	return nil
}

// nat64 is the site NAT64 prefixes of the chain's policies; it allocates
// only when more than one policy declares some.
func (c Chain) nat64() []netip.Prefix {
	var site []netip.Prefix
	for _, p := range c {
		switch {
		case p == nil || len(p.NAT64) == 0:
		case site == nil:
			site = p.NAT64
		default:
			site = slices.Concat(site, p.NAT64)
		}
	}
	return site
}

func (c Chain) name() string {
	if len(c) == 0 {
		return "target_policy"
	}
	return c[0].name()
}
