package config

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tcp-verdict/tcp_verdict_exporter/policy"
)

// DefaultTargetDeny is target_policy.deny when the file does not set it:
// the link-local ranges, where cloud metadata services answer
// (169.254.169.254, and AWS's fd00:ec2::254). Loopback and private
// networks stay allowed, so that a newcomer's first probe of 127.0.0.1
// works; docs/security.md, "Target policy", recommends a policy for an exposed
// exporter. Write deny: [] to refuse nothing.
var DefaultTargetDeny = []string{"169.254.0.0/16", "fe80::/10", "fd00:ec2::254"}

// TargetPolicy is a target_policy section as written: CIDRs or single
// addresses. When Allow is not empty, only its addresses may be dialled;
// Deny is refused always and wins over Allow.
type TargetPolicy struct {
	Allow []string `yaml:"allow"`
	Deny  []string `yaml:"deny"`
	// NAT64Prefixes are the site's own NAT64 prefixes (RFC 6052 lengths):
	// the IPv4 address an address under them carries is judged too, as
	// under the well-known 64:ff9b::/96. Only the file's section has them.
	NAT64Prefixes []string `yaml:"nat64_prefixes"`

	// allow and deny say whether and where the file wrote each list, so
	// that an empty or null list is read as its author meant it, never as
	// "every address" (docs/security.md, "Policies that fail
	// open").
	allow, deny written
}

// written is where a list's key stands in the file, and whether its value
// was null (the key with every entry commented out).
type written struct {
	line int // 0: the key is absent
	null bool
}

// targetPolicyKeys are the keys a target_policy section may have.
const targetPolicyKeys = "allow, deny and nat64_prefixes"

// UnmarshalYAML reads the section key by key, strictly as the rest of the
// file is read, and records which lists were written and where. (A null
// section never reaches it: the decoder leaves the zero value, every list
// not written.)
func (tp *TargetPolicy) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: target_policy must be a mapping of %s", n.Line, targetPolicyKeys)
	}
	*tp = TargetPolicy{}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if line, ok := seen[k.Value]; ok {
			return fmt.Errorf("line %d: mapping key %q already defined at line %d", k.Line, k.Value, line)
		}
		seen[k.Value] = k.Line
		var list *[]string
		var at *written
		switch k.Value {
		case "allow":
			list, at = &tp.Allow, &tp.allow
		case "deny":
			list, at = &tp.Deny, &tp.deny
		case "nat64_prefixes":
			list, at = &tp.NAT64Prefixes, new(written)
		default:
			return fmt.Errorf("line %d: field %s not found in target_policy (it has %s)", k.Line, k.Value, targetPolicyKeys)
		}
		*at = written{line: k.Line, null: v.ShortTag() == "!!null"}
		if at.null {
			continue
		}
		if v.Kind != yaml.SequenceNode {
			return fmt.Errorf("line %d: target_policy.%s must be a list of CIDRs or addresses", v.Line, k.Value)
		}
		if err := v.Decode(list); err != nil {
			return fmt.Errorf("target_policy.%s: %s", k.Value, strings.TrimPrefix(tidyYAMLError(err), "yaml: "))
		}
	}
	return nil
}

// parse validates the section; name is where it sits in the file, for
// errors and refusals. An allow list that was written but is empty or null
// is an error, for "only these" with none would refuse every target and
// reading it as "no allow list" would admit every one. The file's deny
// list, when not written or null, is DefaultTargetDeny; an explicit
// deny: [] refuses nothing, which warn reports. A module's deny has no
// default: the file's applies already.
func (tp *TargetPolicy) parse(name string, file bool, warn func(string)) (*policy.Policy, error) {
	if tp.allow.line > 0 && len(tp.Allow) == 0 {
		what := "[]"
		if tp.allow.null {
			what = "null (every entry commented out?)"
		}
		return nil, fmt.Errorf("line %d: %s.allow is %s: an allow list admits only its entries, so an empty one admits nothing; list the networks to probe, or remove the key to allow every address the deny list does not refuse", tp.allow.line, name, what)
	}
	deny := tp.Deny
	switch {
	case !file:
	case tp.deny.line == 0:
		deny = DefaultTargetDeny
	case tp.deny.null:
		deny = DefaultTargetDeny
		warn(fmt.Sprintf("line %d: %s.deny is null (every entry commented out?): the default deny list %v applies; write deny: [] to refuse nothing", tp.deny.line, name, DefaultTargetDeny))
	case len(tp.Deny) == 0:
		warn(fmt.Sprintf("line %d: %s.deny is []: no address is refused, not even the cloud metadata ranges of the default list %v", tp.deny.line, name, DefaultTargetDeny))
	}
	p, err := policy.Parse(name, tp.Allow, deny)
	if err != nil {
		return nil, err
	}
	for i, s := range tp.NAT64Prefixes {
		prefix, err := policy.ParseNAT64Prefix(s)
		if err != nil {
			return nil, fmt.Errorf("%s.nat64_prefixes[%d]: %w", name, i, err)
		}
		p.NAT64 = append(p.NAT64, prefix)
	}
	return p, nil
}
