//go:build linux

package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/exporterproc"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testenv"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
)

// The second hostile-client battery (issue 18; docs/security.md):
// the built exporter and its check command in a namespace of their own
// whose only interfaces are loopback and "sink", one end of a veth pair
// whose other end is in the same namespace and has no address, so it
// drops whatever arrives. Every network a battery target could reach is
// routed to sink: a check that failed would send its SYN nowhere beyond
// the namespace, and the output chain's counter would still see it.
const (
	portService = 7001 // a loopback service with a banner, on every address
	portHostile = 7002 // nothing listens: the port of the carried-address targets
)

// hostileConfig denies loopback in the modules that probe through names
// and leaves the file's deny list at its default (link-local, metadata),
// with a site NAT64 prefix; module open has no policy of its own.
const hostileConfig = `target_policy:
  nat64_prefixes: ["2001:db8:64::/96"]
modules:
  open: {prober: tcp, timeout: 2s, tcp: {preferred_ip_protocol: ip4, hold: 0s}}
  v6:
    prober: tcp
    timeout: 2s
    tcp: {preferred_ip_protocol: ip6, ip_protocol_fallback: false, hold: 0s}
  v4_no_loopback:
    prober: tcp
    timeout: 2s
    tcp: {preferred_ip_protocol: ip4, hold: 0s}
    target_policy: {deny: [127.0.0.0/8, "::1"]}
  v6_no_loopback:
    prober: tcp
    timeout: 2s
    tcp: {preferred_ip_protocol: ip6, ip_protocol_fallback: false, hold: 0s}
    target_policy: {deny: [127.0.0.0/8, "::1"]}
  all_no_loopback:
    prober: tcp
    timeout: 2s
    tcp: {preferred_ip_protocol: ip4, hold: 0s, addresses: all}
    target_policy: {deny: [127.0.0.0/8, "::1"]}
`

// hostileSink routes every network a battery target names to the sink.
var hostileSink = []string{
	"link add sink type veth peer name sink-peer", "link set sink up", "link set sink-peer up", "link set lo up",
	"addr add 10.250.0.1/30 dev sink", "addr add fd00:250::1/64 dev sink nodad",
	"route add 0.0.0.0/1 dev sink", "route add 128.0.0.0/2 dev sink", "route add 192.0.0.0/3 dev sink",
	"route add 169.254.0.0/16 dev sink", "route add 198.51.100.0/24 dev sink",
	"route add ::/96 dev sink", "route add ::ffff:0:0:0/96 dev sink", "route add 64:ff9b::/96 dev sink",
	"route add 64:ff9b:1::/48 dev sink", "route add 2002::/16 dev sink", "route add 2001::/32 dev sink",
	"route add 2001:db8::/32 dev sink",
	// The dropped target of the load subtests: its SYNs leave for a
	// neighbour nobody is, and the peer drops them.
	"neigh add 198.51.100.7 lladdr 02:00:00:00:00:07 dev sink nud permanent",
}

// hostileCounter counts every SYN the namespace sends to the two ports,
// before routing decides where it goes.
var hostileCounter = fmt.Sprintf(`table inet tvehostile {
	counter syns {}
	chain output {
		type filter hook output priority 0; policy accept;
		tcp flags & (syn | ack) == syn tcp dport { %d, %d } counter name syns
	}
}
`, portService, portHostile)

var countedError = regexp.MustCompile(`(?m)^tcp_verdict_exporter_probes_total\{[^}]*class="error"[^}]*\} [1-9]`)

func TestHostileBattery(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedTools(t, "ip", "nft")
	t.Cleanup(func() {
		for _, err := range cleanup.run() {
			t.Error(err)
		}
	})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	dir, err := os.MkdirTemp("", "tve-e2e-hostile-")
	must(err)
	cleanup.add("removing "+dir, func() error { return os.RemoveAll(dir) })
	bin, err := exporterproc.Build(dir)
	must(err)
	config := filepath.Join(dir, "config.yml")
	must(os.WriteFile(config, []byte(hostileConfig), 0o644))

	ns := fmt.Sprintf("tve%d-hostile", os.Getpid())
	must(addNamespace(ns))
	must(sysctl(ns, "net.ipv6.conf.all.accept_dad", "0", "net.ipv6.conf.default.accept_dad", "0"))
	must(ipBatch(ns, hostileSink...))
	must(nft(ns, hostileCounter))

	// The loopback service a name resolving to 0.0.0.0 or :: would reach.
	var accepted atomic.Int64
	for _, network := range []string{"tcp4", "tcp6"} {
		ln, err := inNSListen(ns, network, fmt.Sprintf(":%d", portService))
		must(err)
		testnet.Accept(t, ln, func(c *net.TCPConn) {
			accepted.Add(1)
			_, _ = c.Write([]byte("SECRET-BANNER\r\n")) // the prober may have gone; its verdict is checked
			_ = c.Close()
		})
	}
	// The namespace's DNS, on its loopback.
	a := netip.MustParseAddr
	zone := &testnet.DNSZone{
		A: map[string][]netip.Addr{
			"zero.hostile.test.": {a("0.0.0.0")}, "bcast.hostile.test.": {a("255.255.255.255")},
			"mcast.hostile.test.": {a("224.0.0.1")}, "mixed.hostile.test.": {a("198.51.100.7"), a("0.0.0.0")},
		},
		AAAA: map[string][]netip.Addr{"zero6.hostile.test.": {a("::")}, "mcast6.hostile.test.": {a("ff02::1")}},
	}
	var dnsConn *net.UDPConn
	must(inNS(ns, func() error {
		var err error
		dnsConn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 53), Port: 53})
		return err
	}))
	var dnsDone sync.WaitGroup
	testnet.ServeDNS(dnsConn, zone, &dnsDone)
	cleanup.add("closing the hostile namespace's DNS", func() error { err := dnsConn.Close(); dnsDone.Wait(); return err })
	must(setResolvConf(ns, "nameserver 127.0.0.53\noptions timeout:1 attempts:1\n"))

	e, err := startExporter(ns, bin, config, "127.0.0.1:9765", 0)
	must(err)
	defer func() { _ = e.stop() }() // also registered for teardown

	type attempt struct {
		name, target, module string
		header               string // X-Prometheus-Scrape-Timeout-Seconds, when set
		code                 int
		body                 string // in the answer
	}
	run := func(t *testing.T, cases []attempt) {
		t.Helper()
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				for _, debug := range []string{"false", "true"} {
					q := url.Values{"target": {tc.target}, "module": {tc.module}, "debug": {debug}}
					req, err := http.NewRequest(http.MethodGet, "http://"+e.addr+"/probe?"+q.Encode(), nil)
					if err != nil {
						t.Fatal(err)
					}
					if tc.header != "" {
						req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", tc.header)
					}
					code, body := e.do(t, req)
					if code != tc.code || !strings.Contains(body, tc.body) {
						t.Errorf("debug=%s: HTTP %d %q, want %d with %q", debug, code, body, tc.code, tc.body)
					}
					if strings.Contains(body, "SECRET-BANNER") {
						t.Errorf("debug=%s: the loopback service's banner leaked: %q", debug, body)
					}
				}
			})
		}
	}
	syns := func(t *testing.T) int {
		t.Helper()
		out, err := command("", "ip", "netns", "exec", ns, "nft", "list", "counter", "inet", "tvehostile", "syns")
		if err != nil {
			t.Fatal(err)
		}
		m := nftPackets.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no packet count in %q", out)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	hostile := strconv.Itoa(portHostile)
	service := strconv.Itoa(portService)

	// Item 1: IPv4 inside IPv6 walks past no deny.
	t.Run("carried-ipv4", func(t *testing.T) {
		const carries = "refused by target_policy.deny 169.254.0.0/16: it carries 169.254.169.254"
		var cases []attempt
		for _, addr := range []string{"::a9fe:a9fe", "64:ff9b::a9fe:a9fe", "64:ff9b:1::a9fe:a9fe", "2002:a9fe:a9fe::1",
			"2001:0:4136:e378:8000:63bf:5601:5601", "2001:db8:1:2:0:5efe:a9fe:a9fe", "2001:db8:1:2:200:5efe:a9fe:a9fe",
			"::ffff:0:a9fe:a9fe", "2001:db8:64::a9fe:a9fe"} {
			cases = append(cases, attempt{addr, "[" + addr + "]:" + hostile, "v6", "", http.StatusForbidden, carries})
		}
		cases = append(cases,
			attempt{"v4-mapped", "[::ffff:169.254.169.254]:" + hostile, "open", "", http.StatusForbidden, "refused by target_policy.deny 169.254.0.0/16"},
			attempt{"IPv4-compatible loopback", "[::7f00:1]:" + service, "v6_no_loopback", "", http.StatusForbidden, "refused by modules.v6_no_loopback.target_policy.deny 127.0.0.0/8: it carries 127.0.0.1 (IPv4-compatible ::/96)"})
		run(t, cases)
	})

	// Item 2: names resolving to addresses that are no host.
	t.Run("no-host-after-resolution", func(t *testing.T) {
		run(t, []attempt{
			{"0.0.0.0", "zero.hostile.test:" + service, "v4_no_loopback", "", http.StatusForbidden, "target 0.0.0.0 refused by the built-in rule: 0.0.0.0 is the unspecified address"},
			{"::", "zero6.hostile.test:" + service, "v6_no_loopback", "", http.StatusForbidden, "target :: refused by the built-in rule: :: is the unspecified address"},
			{"broadcast", "bcast.hostile.test:" + service, "v4_no_loopback", "", http.StatusForbidden, "255.255.255.255 is the broadcast address"},
			{"multicast", "mcast.hostile.test:" + service, "v4_no_loopback", "", http.StatusForbidden, "224.0.0.1 is a multicast address"},
			{"IPv6 multicast", "mcast6.hostile.test:" + service, "v6_no_loopback", "", http.StatusForbidden, "ff02::1 is a multicast address"},
			{"a list holding 0.0.0.0", "mixed.hostile.test:" + service, "all_no_loopback", "", http.StatusForbidden, "target 0.0.0.0 refused by the built-in rule"},
		})
		stdout, stderr, code := runCheckIn(t, ns, bin, config, "--module=v4_no_loopback", "zero.hostile.test:"+service)
		if code != 2 || !strings.Contains(stderr, "target 0.0.0.0 refused by the built-in rule") || strings.Contains(stdout, "SECRET-BANNER") {
			t.Errorf("check zero.hostile.test: exit %d, stderr %q, stdout %q; want exit 2 and the refusal", code, stderr, stdout)
		}
	})

	// Nothing of the above was dialled: no SYN left for either port, and the
	// service accepted nothing.
	time.Sleep(100 * time.Millisecond)
	if n := syns(t); n != 0 {
		t.Errorf("%d SYNs sent to the battery's ports: a refused target was dialled", n)
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("the loopback service accepted %d connections from refused targets", n)
	}

	// Item 3: a policy that fails open does not load.
	t.Run("fail-open-config", func(t *testing.T) {
		for _, tc := range []struct{ name, yaml, want string }{
			{"allow: []", "target_policy:\n  allow: []\nmodules:\n  tcp: {prober: tcp}\n", "line 2: target_policy.allow is []"},
			{"allow: null", "target_policy:\n  allow:\n  #  - 10.0.0.0/8\nmodules:\n  tcp: {prober: tcp}\n", "line 2: target_policy.allow is null"},
		} {
			path := filepath.Join(dir, "fail-open.yml")
			must(os.WriteFile(path, []byte(tc.yaml), 0o644))
			cmd := exec.Command(bin, "--config.check", "--config.file="+path)
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), tc.want) {
				t.Errorf("%s: --config.check said %v: %s; want a failure naming %q", tc.name, err, out, tc.want)
			}
		}
	})

	// Item 7: a deadline no probe can use is bad input, not a firewall.
	t.Run("short-deadline", func(t *testing.T) {
		run(t, []attempt{
			{"header 0.0002", "127.0.0.1:" + service, "open", "0.0002", http.StatusBadRequest, "less than the 10ms a probe needs"},
		})
		_, stderr, code := runCheckIn(t, ns, bin, config, "--module=open", "--timeout=1ns", "127.0.0.1:"+service)
		if code != 2 || !strings.Contains(stderr, "--timeout 1ns is below 10ms") {
			t.Errorf("check --timeout=1ns: exit %d, stderr %q; want exit 2", code, stderr)
		}
		// The same, with time to probe: the port is open.
		if _, stderr, code := runCheckIn(t, ns, bin, config, "--module=open", "127.0.0.1:"+service); code != 0 {
			t.Errorf("check with the module's timeout: exit %d, stderr %q; want 0", code, stderr)
		}
	})

	// Item 8: zones are the host's interfaces, or a 400.
	t.Run("zones", func(t *testing.T) {
		run(t, []attempt{
			{"no such interface", "[fe80::1%nosuchif0]:" + service, "v6", "", http.StatusBadRequest, `zone "nosuchif0" names no interface of this host`},
			{"no such index", "[fe80::1%999]:" + service, "v6", "", http.StatusBadRequest, `zone "999" names no interface of this host`},
			{"control characters", "[fe80::1%lo\nTrying]:" + service, "v6", "", http.StatusBadRequest, `zone "lo\nTrying" is not an interface name or index`},
			{"zone on a global address", "[::1%lo]:" + service, "v6", "", http.StatusBadRequest, "a zone only applies to a link-local address"},
			// Valid zones, by index and by name, reach the policy (the
			// default deny of fe80::/10), never class error.
			{"index", "[fe80::1%1]:" + service, "v6", "", http.StatusForbidden, "target fe80::1 refused by target_policy.deny fe80::/10"},
			{"name", "[fe80::1%lo]:" + service, "v6", "", http.StatusForbidden, "target fe80::1 refused by target_policy.deny fe80::/10"},
		})
		_, metrics := e.status(t, http.MethodGet, "/metrics")
		if countedError.MatchString(metrics) {
			t.Errorf("a probe was counted as class error:\n%s", grepLines(metrics, `class="error"`))
		}
	})

	// Items 4 and 5: what /probe's clients do cannot keep the admin
	// endpoints waiting, under the load tests' descriptor limit.
	small, err := startExporter(ns, bin, config, "127.0.0.1:9766", smallNofile)
	must(err)
	defer func() { _ = small.stop() }() // also registered for teardown
	// The attackers and the admin client dial through threads of their own,
	// so that an attacker's connect() never delays the admin's.
	d, admin := newNSDialer(t, ns, 4), newNSDialer(t, ns, 1)
	t.Run("admin-behind-declared-bodies", func(t *testing.T) {
		attack := "POST /-/healthy HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
		stop := hostileClients(t, d, small.addr, smallConns, func(c net.Conn) {
			_, _ = io.WriteString(c, attack) // then nothing: the body never comes
			_ = c.SetReadDeadline(time.Now().Add(40 * time.Second))
			_, _ = io.Copy(io.Discard, c) // until the server lets go
		})
		defer stop()
		adminWithinASecond(t, admin, small.addr, 3*time.Second)
	})
	t.Run("admin-behind-silent-connections", func(t *testing.T) {
		for _, rate := range []int{100, 200} {
			func() {
				stop := silentFlood(t, d, small.addr, rate)
				defer stop()
				adminWithinASecond(t, admin, small.addr, 4*time.Second)
			}()
		}
	})
	t.Run("503-at-once", func(t *testing.T) {
		// Keep-alive clients probing a target the sink drops (2 s each):
		// beyond the slots, every answer is an immediate 503.
		const clients = 1000
		tr := &http.Transport{Proxy: nil, DialContext: d.DialContext, MaxIdleConnsPerHost: clients}
		defer tr.CloseIdleConnections()
		c := &http.Client{Timeout: 30 * time.Second, Transport: tr}
		var mu sync.Mutex
		var took503 []time.Duration
		var other []string
		var wg sync.WaitGroup
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a := fetchAnswer(c, "http://"+small.addr, "198.51.100.7:"+hostile, "open")
				mu.Lock()
				defer mu.Unlock()
				switch {
				case a.err == nil && a.status == http.StatusServiceUnavailable:
					took503 = append(took503, a.took)
				case a.err == nil && a.status == http.StatusOK && a.class == "firewall":
				default:
					other = append(other, fmt.Sprintf("%d %s %v", a.status, a.class, a.err))
				}
			}()
		}
		wg.Wait()
		slices.Sort(took503)
		if len(other) > 0 {
			t.Errorf("%d answers neither a firewall verdict nor a 503, e.g. %s", len(other), other[0])
		}
		if len(took503) < clients/2 {
			t.Fatalf("only %d of %d clients got a 503", len(took503), clients)
		}
		p50, p99, worst := took503[len(took503)/2], took503[len(took503)*99/100], took503[len(took503)-1]
		t.Logf("%d clients: %d 503s, p50 %s, p99 %s, slowest %s", clients, len(took503), p50.Round(time.Millisecond), p99.Round(time.Millisecond), worst.Round(time.Millisecond))
		if p99 > time.Second {
			t.Errorf("503s p99 %s (p50 %s): not at once", p99, p50)
		}
	})
}

// hostileClients runs n clients that each connect to addr and call hold,
// again and again, until the returned stop.
func hostileClients(t *testing.T, d *nsDialer, addr string, n int, hold func(net.Conn)) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				c, err := d.DialContext(ctx, "tcp", addr)
				if err != nil {
					continue
				}
				mu.Lock()
				open[c] = true
				mu.Unlock()
				hold(c)
				mu.Lock()
				delete(open, c)
				mu.Unlock()
				_ = c.Close() // the server may have closed it
			}
		}()
	}
	time.Sleep(500 * time.Millisecond) // the clients hold their connections
	return func() {
		cancel()
		mu.Lock()
		for c := range open {
			_ = c.Close() // unblocks hold
		}
		mu.Unlock()
		wg.Wait()
	}
}

// silentFlood opens rate new connections a second to addr that send
// nothing, and keeps them until the returned stop.
func silentFlood(t *testing.T, d *nsDialer, addr string, rate int) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var held []net.Conn
	var dials sync.WaitGroup
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			dials.Add(1)
			go func() {
				defer dials.Done()
				c, err := d.DialContext(ctx, "tcp", addr)
				if err != nil {
					return
				}
				mu.Lock()
				held = append(held, c)
				mu.Unlock()
			}()
		}
	}()
	time.Sleep(time.Second) // the flood fills the connections
	return func() {
		cancel()
		<-done
		dials.Wait()
		mu.Lock()
		for _, c := range held {
			_ = c.Close() // the server may have closed it
		}
		mu.Unlock()
	}
}

// adminWithinASecond asks /metrics, /-/healthy and /-/ready on new
// connections for a while and fails when any answer takes a second or more.
func adminWithinASecond(t *testing.T, d *nsDialer, addr string, during time.Duration) {
	t.Helper()
	c := d.client()
	c.Timeout = 10 * time.Second
	var worst time.Duration
	n := 0
	for end := time.Now().Add(during); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		for _, path := range []string{"/metrics", "/-/healthy", "/-/ready"} {
			start := time.Now()
			resp, err := c.Get("http://" + addr + path)
			if err != nil {
				t.Errorf("%s: %v after %s", path, err, time.Since(start).Round(time.Millisecond))
				continue
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			took := time.Since(start)
			n++
			worst = max(worst, took)
			if resp.StatusCode != http.StatusOK || took >= time.Second {
				t.Errorf("%s: HTTP %d after %s", path, resp.StatusCode, took.Round(time.Millisecond))
			}
		}
	}
	t.Logf("%d admin requests, the slowest %s", n, worst.Round(time.Millisecond))
}

// do sends req to the exporter and returns the status and body.
func (e *exporter) do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }() // read in full below; a failed close changes nothing
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// inNSListen opens a listener inside ns.
func inNSListen(ns, network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := inNS(ns, func() error {
		var err error
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}
