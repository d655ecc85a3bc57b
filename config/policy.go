package config

import (
	"fmt"

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
}

// parse validates the section; name is where it sits in the file, for
// errors and refusals.
func (tp *TargetPolicy) parse(name string) (*policy.Policy, error) {
	p, err := policy.Parse(name, tp.Allow, tp.Deny)
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
