package prober

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Target is a validated host:port.
type Target struct {
	Host string // a name or an IP literal, without brackets
	Port uint16
	IP   netip.Addr // set when Host is an IP literal
}

func (t Target) String() string { return net.JoinHostPort(t.Host, strconv.Itoa(int(t.Port))) }

// ParseTarget validates a host:port. Its errors are one line, meant for the
// person who wrote the target.
func ParseTarget(s string) (Target, error) {
	if s == "" {
		return Target{}, fmt.Errorf("target is missing: give target=host:port")
	}
	if strings.Contains(s, "://") {
		return Target{}, fmt.Errorf("target %q must be host:port, without a scheme", s)
	}
	host, portText, err := net.SplitHostPort(s)
	if err != nil {
		if strings.Count(s, ":") == 0 || (strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]")) {
			return Target{}, fmt.Errorf("target %q has no port: use host:port", s)
		}
		return Target{}, fmt.Errorf("target %q is not host:port (bracket IPv6 addresses: [::1]:22)", s)
	}
	port, err := strconv.ParseUint(portText, 10, 32)
	if err != nil || port < 1 || port > 65535 {
		return Target{}, fmt.Errorf("target %q: port %q is not a number from 1 to 65535", s, portText)
	}
	t := Target{Host: host, Port: uint16(port)}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip, err = checkZone(ip); err != nil {
			return Target{}, fmt.Errorf("target %q: %w", s, err)
		}
		t.IP = ip.Unmap()
		if err := checkUnicast(t.IP); err != nil {
			return Target{}, fmt.Errorf("target %q: %w", s, err)
		}
		return t, nil
	}
	if err := checkHostname(host); err != nil {
		return Target{}, fmt.Errorf("target %q: %w", s, err)
	}
	return t, nil
}

// checkHostname accepts DNS names (RFC 1123, plus underscores, which real
// zones contain) and rejects everything else before it reaches a resolver.
func checkHostname(h string) error {
	name := strings.TrimSuffix(h, ".")
	if name == "" {
		return fmt.Errorf("host is empty")
	}
	if len(name) > 253 {
		return fmt.Errorf("host name is longer than 253 characters")
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("host %q is not a valid name or IP address", h)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("host %q is not a valid name (a label starts or ends with '-')", h)
		}
		for _, c := range label {
			if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '_' {
				return fmt.Errorf("host %q is not a valid name or IP address (character %q)", h, c)
			}
		}
	}
	return nil
}

// checkZone validates an IPv6 address's zone against this host's
// interfaces and returns the address with the zone as the interface's name
// (a numeric zone is an interface index). A zone that names no interface,
// or one on an address that is not link-local, is the client's mistake:
// dialled, it would fail on our side and read as this host's failure
// (docs/security.md, "Zones"). Errors quote the zone, so that
// whatever it holds stays on one line.
func checkZone(ip netip.Addr) (netip.Addr, error) {
	zone := ip.Zone()
	if zone == "" {
		return ip, nil
	}
	if !ip.IsLinkLocalUnicast() {
		return netip.Addr{}, fmt.Errorf("zone %q: a zone only applies to a link-local address (fe80::/10), and %s is not one", zone, ip.WithZone(""))
	}
	if len(zone) > maxInterfaceName || strings.ContainsFunc(zone, notInInterfaceName) {
		return netip.Addr{}, fmt.Errorf("zone %q is not an interface name or index", zone)
	}
	var ifi *net.Interface
	var err error
	if index, convErr := strconv.ParseUint(zone, 10, 31); convErr == nil {
		ifi, err = net.InterfaceByIndex(int(index))
	} else {
		ifi, err = net.InterfaceByName(zone)
	}
	if err != nil || ifi == nil {
		return netip.Addr{}, fmt.Errorf("zone %q names no interface of this host", zone)
	}
	return ip.WithZone(ifi.Name), nil
}

// maxInterfaceName is the longest interface name Linux takes (IFNAMSIZ less
// its terminating zero).
const maxInterfaceName = 15

// notInInterfaceName holds the characters Linux refuses in an interface
// name (white space, '/' and ':'), and every one that is not printable
// ASCII.
func notInInterfaceName(r rune) bool { return r <= ' ' || r > '~' || r == '/' || r == ':' }

// checkUnicast refuses addresses TCP cannot connect to: dialling them fails
// on our side, and that would read as a network verdict.
func checkUnicast(ip netip.Addr) error {
	switch {
	case ip.IsUnspecified():
		return fmt.Errorf("%s is the unspecified address, not a host", ip)
	case ip.IsMulticast():
		return fmt.Errorf("%s is a multicast address; TCP needs a unicast one", ip)
	case ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("%s is the broadcast address; TCP needs a unicast one", ip)
	}
	return nil
}
