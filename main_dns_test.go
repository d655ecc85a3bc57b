package main

import (
	"context"
	"errors"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
)

// --dns.server takes an IP with an optional port (53 when left out) and
// refuses names, port 0 and addresses that are not one server's.
func TestParseDNSServer(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.53":        "127.0.0.53:53",
		"127.0.0.53:5353":   "127.0.0.53:5353",
		"::1":               "[::1]:53",
		"[::1]":             "[::1]:53",
		"[2001:db8::53]:54": "[2001:db8::53]:54",
	} {
		got, err := parseDNSServer(in)
		if err != nil || got.String() != want {
			t.Errorf("%q: %v, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"dns.example", "dns.example:53", "127.0.0.1:0", "0.0.0.0", "[::]:53", "224.0.0.251:5353", "127.0.0.1:99999", "127.0.0.1:"} {
		if got, err := parseDNSServer(in); err == nil {
			t.Errorf("%q accepted as %v", in, got)
		} else if !strings.Contains(err.Error(), in) {
			t.Errorf("%q: error %q does not quote the value", in, err)
		}
	}
}

// The resolver --dns.server makes asks that server, and only it: a name
// only the test's DNS server on loopback knows resolves to its address.
func TestDNSServerResolverAsksTheServer(t *testing.T) {
	const name = "tve-dns-flag.test."
	want := netip.MustParseAddr("127.0.0.77")
	zone := &testnet.DNSZone{A: map[string][]netip.Addr{name: {want}}}
	server := testnet.StartDNS(t, zone)
	resolver, err := dnsResolver(server.String())
	if err != nil || resolver == nil {
		// Stop before a lookup that would go to the system's resolvers.
		t.Fatalf("--dns.server=%s: resolver %v, %v", server, resolver, err)
	}
	if r, err := dnsResolver(""); r != nil || err != nil {
		t.Errorf("no --dns.server: %v, %v; want the system's (nil)", r, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := resolver.LookupNetIP(ctx, "ip4", strings.TrimSuffix(name, "."))
	if err != nil || !slices.Contains(got, want) {
		t.Fatalf("lookup of %s: %v, %v; want %s from the server", name, got, err, want)
	}
	if zone.Queries(name) == 0 {
		t.Errorf("the server on %s saw no query for %s", server, name)
	}
}

// The flag is a documented one: --help lists it, and a bad value stops the
// exporter before it serves, with an error naming the flag.
func TestDNSServerFlag(t *testing.T) {
	bin := buildBinary(t)
	out, err := exec.Command(bin, "serve", "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--dns.server=IP[:PORT]") {
		t.Errorf("serve --help (%v) does not list --dns.server:\n%s", err, out)
	}
	addr := testnet.ClosedPort(t, "tcp4", "127.0.0.1:0")
	out, err = exec.Command(bin, "--web.listen-address="+addr, "--dns.server=dns.example").CombinedOutput()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 || !strings.Contains(string(out), `--dns.server: "dns.example"`) {
		t.Errorf("--dns.server=dns.example: %v, want exit 1 and an error naming the flag\n%s", err, out)
	}
}
