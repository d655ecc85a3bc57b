package limits

import (
	"fmt"

	"github.com/tcp-verdict/tcp_verdict_exporter/config"
)

// UnfitModules says, with the arithmetic, which modules of c need more
// probe slots than the plan has: every probe with such a module would be
// refused, and only the host's limits, which config cannot see, tell
// (docs/security.md, "Modules that cannot fit"). main logs them at start
// and on every reload (config.Store.SetVet).
func (p Plan) UnfitModules(c *config.Config) []string {
	var out []string
	for _, name := range c.ModuleNames() {
		m := c.Modules[name]
		if ProbeSlots(&m) <= p.MaxInFlight {
			continue
		}
		out = append(out, UnfitReason(name, &m, p.MaxInFlight)+"; every probe with it is refused")
	}
	return out
}

// UnfitReason is the arithmetic of a module that needs more slots than the
// maxInFlight there are, for the start-up warning and the probe's 503.
func UnfitReason(name string, m *config.Module, maxInFlight int) string {
	why := fmt.Sprintf("module %s needs %d probe slots (tcp.addresses %s, tcp.max_addresses %d: one slot per %d sockets dialled at once), but the exporter has %d (--probe.max-in-flight)",
		name, ProbeSlots(m), m.TCP.Addresses, m.TCP.MaxAddresses, filesPerSlot-1, maxInFlight)
	if fit := maxAddressesThatFit(m, maxInFlight); fit > 0 {
		why += fmt.Sprintf(": lower tcp.max_addresses to %d or less, or raise the limit", fit)
	}
	return why
}

// maxAddressesThatFit is the largest tcp.max_addresses with which m fits
// maxInFlight slots; 0 when none does.
func maxAddressesThatFit(m *config.Module, maxInFlight int) int {
	try := *m
	for n := min(m.TCP.MaxAddresses, config.MaxMaxAddresses); n >= 1; n-- {
		try.TCP.MaxAddresses = n
		if ProbeSlots(&try) <= maxInFlight {
			return n
		}
	}
	return 0
}
