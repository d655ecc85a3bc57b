package config

import "fmt"

// validateAttempts checks tcp.attempts. Several attempts of several
// addresses (tcp.addresses "all") are refused: the per-address verdicts
// would each need their own counts, and the product of the two would be
// up to 1,024 sockets per probe (docs/intermittent.md).
func (t *TCPProbe) validateAttempts() error {
	if t.Attempts < 1 || t.Attempts > MaxAttempts {
		return fmt.Errorf("tcp.attempts %d is not from 1 to %d", t.Attempts, MaxAttempts)
	}
	if t.Attempts > 1 && t.Addresses == AddressesAll {
		return fmt.Errorf("tcp.attempts %d cannot be combined with tcp.addresses %s: probe each address as its own target to make several attempts of it", t.Attempts, AddressesAll)
	}
	return nil
}
