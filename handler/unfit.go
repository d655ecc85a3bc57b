package handler

import (
	"fmt"

	"github.com/tcp-verdict/tcp_verdict_exporter/config"
)

// UnfitModules says, with the arithmetic, which modules of c need more
// probe slots than the maxInFlight there are: every probe with such a
// module would be refused, and only the host's limits, which config
// cannot see, tell (docs/security.md, "Modules that cannot fit"). main logs
// them at start and on every reload (config.Store.SetVet).
func UnfitModules(c *config.Config, maxInFlight int) []string {
	var out []string
	for _, name := range c.ModuleNames() {
		m := c.Modules[name]
		need := slots(&m)
		if need <= maxInFlight {
			continue
		}
		out = append(out, unfitReason(name, &m, need, maxInFlight)+"; every probe with it is refused")
	}
	return out
}

// unfitReason is the arithmetic of a module that needs more slots than
// there are, for the start-up warning and the probe's 503.
func unfitReason(name string, m *config.Module, need, maxInFlight int) string {
	why := fmt.Sprintf("module %s needs %d probe slots (tcp.addresses %s, tcp.max_addresses %d: one slot per %d sockets dialled at once), but the exporter has %d (--probe.max-in-flight)",
		name, need, m.TCP.Addresses, m.TCP.MaxAddresses, socketsPerSlot, maxInFlight)
	if fit := maxAddressesThatFit(m, maxInFlight); fit > 0 {
		why += fmt.Sprintf(": lower tcp.max_addresses to %d or less, or raise the limit", fit)
	}
	return why
}

// socketsPerSlot is how many of a probe's sockets one slot covers.
const socketsPerSlot = filesPerSlot - 1

// maxAddressesThatFit is the largest tcp.max_addresses with which m fits
// maxInFlight slots; 0 when none does.
func maxAddressesThatFit(m *config.Module, maxInFlight int) int {
	try := *m
	for n := min(m.TCP.MaxAddresses, config.MaxMaxAddresses); n >= 1; n-- {
		try.TCP.MaxAddresses = n
		if slots(&try) <= maxInFlight {
			return n
		}
	}
	return 0
}
