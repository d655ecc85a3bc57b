package prober

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// ownAddrs caches this host's own addresses for source_ip_address: a
// source the host does not own must never send a SYN, whatever
// net.ipv4.ip_nonlocal_bind and net.ipv6.ip_nonlocal_bind let bind() do
// (docs/verdicts.md, "Source address").
var ownAddrs = &addrCache{ttl: time.Second}

// addrCache is the set of addresses of this network namespace's interfaces,
// read at most once per ttl, and again before it says "not ours", so that
// an address just added is never refused.
type addrCache struct {
	ttl time.Duration

	mu      sync.Mutex
	read    time.Time
	exact   map[netip.Addr]bool
	loPfx   []netip.Prefix // IPv4 prefixes on loopback interfaces: all local
	readErr error
}

// owns reports whether a is an address of this host: assigned to one of
// its interfaces, or (IPv4) inside a prefix on a loopback interface, for
// which the kernel makes every address local (127.0.0.0/8).
func (c *addrCache) owns(a netip.Addr) (bool, error) {
	a = a.WithZone("").Unmap()
	c.mu.Lock()
	defer c.mu.Unlock()
	fresh := time.Since(c.read) < c.ttl && c.readErr == nil
	if fresh && c.has(a) {
		return true, nil
	}
	if err := c.refresh(); err != nil {
		return false, err
	}
	return c.has(a), nil
}

func (c *addrCache) has(a netip.Addr) bool {
	if c.exact[a] {
		return true
	}
	for _, p := range c.loPfx {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (c *addrCache) refresh() error {
	c.read = time.Now()
	ifaces, err := net.Interfaces()
	if err != nil {
		c.readErr = fmt.Errorf("listing this host's interfaces: %w", err)
		return c.readErr
	}
	exact := map[netip.Addr]bool{}
	var loPfx []netip.Prefix
	for _, ifi := range ifaces {
		addrs, err := ifi.Addrs()
		if err != nil {
			c.readErr = fmt.Errorf("listing the addresses of %s: %w", ifi.Name, err)
			return c.readErr
		}
		for _, addr := range addrs {
			ipnet, ok := addr.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipnet.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			exact[ip] = true
			if ones, _ := ipnet.Mask.Size(); ifi.Flags&net.FlagLoopback != 0 && ip.Is4() {
				loPfx = append(loPfx, netip.PrefixFrom(ip, ones).Masked())
			}
		}
	}
	c.exact, c.loPfx, c.readErr = exact, loPfx, nil
	return nil
}
