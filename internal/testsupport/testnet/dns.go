package testnet

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// DNSZone answers the tests' names, so that no query leaves the machine. A
// name is matched by its leading labels, so that the resolver's search-list
// variants get the same answer. A name may have several addresses of each
// family; they are answered in the order given.
type DNSZone struct {
	A, AAAA map[string][]netip.Addr // name (lower case, rooted) → addresses
	Silent  map[string]bool         // names never answered: the resolver times out
	queries sync.Map                // name → *atomic.Int64: queries seen
}

// Queries counts the queries seen for name (lower case, rooted).
func (z *DNSZone) Queries(name string) int64 {
	if n, ok := z.queries.Load(name); ok {
		return n.(*atomic.Int64).Load()
	}
	return 0
}

func (z *DNSZone) lookup(name string) (a, aaaa []netip.Addr, known, silent bool) {
	for n := range z.Silent {
		if strings.HasPrefix(name, n) {
			return nil, nil, false, true
		}
	}
	for n, ips := range z.A {
		if strings.HasPrefix(name, n) {
			a, known = ips, true
		}
	}
	for n, ips := range z.AAAA {
		if strings.HasPrefix(name, n) {
			aaaa, known = ips, true
		}
	}
	return a, aaaa, known, false
}

// ServeDNS answers the UDP queries conn receives from zone until conn is
// closed; wg tracks the serving goroutine.
func ServeDNS(conn *net.UDPConn, zone *DNSZone, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 4096)
		for {
			n, peer, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			if resp, ok := zone.answer(buf[:n]); ok {
				_, _ = conn.WriteToUDPAddrPort(resp, peer) // a lost answer is a DNS timeout, which tests see
			}
		}
	}()
}

func (z *DNSZone) answer(query []byte) ([]byte, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, false
	}
	q, err := p.Question()
	if err != nil {
		return nil, false
	}
	name := strings.ToLower(q.Name.String())
	cnt, _ := z.queries.LoadOrStore(name, new(atomic.Int64))
	cnt.(*atomic.Int64).Add(1)
	a, aaaa, known, silent := z.lookup(name)
	if silent {
		return nil, false
	}
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true,
		RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
	if !known {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, false
	}
	if err := b.Question(q); err != nil {
		return nil, false
	}
	if err := b.StartAnswers(); err != nil {
		return nil, false
	}
	rrh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 5}
	switch q.Type {
	case dnsmessage.TypeA:
		for _, ip := range a {
			if err = b.AResource(rrh, dnsmessage.AResource{A: ip.As4()}); err != nil {
				return nil, false
			}
		}
	case dnsmessage.TypeAAAA:
		for _, ip := range aaaa {
			if err = b.AAAAResource(rrh, dnsmessage.AAAAResource{AAAA: ip.As16()}); err != nil {
				return nil, false
			}
		}
	}
	msg, err := b.Finish()
	return msg, err == nil
}

// StartDNS serves zone on a loopback UDP port until the test ends, and
// returns the port's address (for prober.ServerResolver).
func StartDNS(t testing.TB, zone *DNSZone) netip.AddrPort {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("DNS server on loopback: %v", err)
	}
	var wg sync.WaitGroup
	ServeDNS(conn, zone, &wg)
	t.Cleanup(func() {
		if err := conn.Close(); err != nil {
			t.Errorf("closing the DNS server: %v", err)
		}
		wg.Wait()
	})
	return conn.LocalAddr().(*net.UDPAddr).AddrPort()
}
