package prober

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/config"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
	"github.com/tcp-verdict/tcp_verdict_exporter/limits"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

func module(t *testing.T, yaml string) config.Module {
	t.Helper()
	c, err := config.Parse([]byte("modules:\n  m:\n    prober: tcp\n" + yaml))
	if err != nil {
		t.Fatal(err)
	}
	return c.Modules["m"]
}

// testDrains bounds and tracks the sessions this package's tests' probes
// leave draining, as the exporter's limits.Set does for its probes.
var testDrains = limits.NewDrains(limits.DefaultMaxDraining)

func probeTarget(t *testing.T, target string, m config.Module) Result {
	t.Helper()
	tg, err := ParseTarget(target)
	if err != nil {
		t.Fatal(err)
	}
	r := Probe(context.Background(), tg, m, Options{Trace: true, Drains: testDrains})
	t.Logf("%s: %s\n%s", target, r.Summary(), r.TranscriptText())
	return r
}

// The test servers here ignore their write and close errors: the prober on
// the other end may have gone already, and its verdict is what is checked.
func TestLoopbackVerdicts(t *testing.T) {
	silent := testnet.Serve(t, "tcp4", "127.0.0.1:0", testnet.KeepOpen)
	banner := testnet.Serve(t, "tcp4", "127.0.0.1:0", func(c *net.TCPConn) {
		_, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.2\r\n"))
		testnet.KeepOpen(c)
	})
	fin := testnet.Serve(t, "tcp4", "127.0.0.1:0", func(c *net.TCPConn) { _ = c.Close() })
	rst := testnet.Serve(t, "tcp4", "127.0.0.1:0", func(c *net.TCPConn) {
		_ = c.SetLinger(0) // close with RST
		_ = c.Close()
	})
	denied := testnet.Serve(t, "tcp4", "127.0.0.1:0", func(c *net.TCPConn) {
		_, _ = c.Write([]byte("Access denied\x07\r\n"))
		_ = c.Close()
	})
	lateClose := testnet.Serve(t, "tcp4", "127.0.0.1:0", func(c *net.TCPConn) {
		time.Sleep(100 * time.Millisecond)
		_ = c.Close()
	})
	refused := testnet.ClosedPort(t, "tcp4", "127.0.0.1:0")
	silent6 := testnet.Serve(t, "tcp6", "[::1]:0", testnet.KeepOpen)
	refused6 := testnet.ClosedPort(t, "tcp6", "[::1]:0")

	hold := module(t, "    tcp:\n      hold: 300ms\n")
	noHold := module(t, "    tcp:\n      hold: 0s\n")
	cases := []struct {
		name    string
		target  string
		m       config.Module
		reason  verdict.Reason
		success bool
		banner  string
	}{
		{"silent listener stays connected", silent, hold, verdict.SynAck, true, ""},
		{"banner and stays", banner, hold, verdict.SynAck, true, "SSH-2.0-OpenSSH_9.2"},
		{"accept then FIN", fin, hold, verdict.Fin, false, ""},
		{"accept then RST", rst, hold, verdict.Reset, false, ""},
		{"banner then close", denied, hold, verdict.Fin, false, "Access denied\uFFFD"},
		{"close after 100ms is seen within the hold", lateClose, hold, verdict.Fin, false, ""},
		{"close after 100ms is not seen without hold", lateClose, noHold, verdict.SynAck, true, ""},
		{"refused", refused, hold, verdict.ConnRefused, false, ""},
		{"ipv6 connected", silent6, hold, verdict.SynAck, true, ""},
		{"ipv6 refused", refused6, hold, verdict.ConnRefused, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := probeTarget(t, tc.target, tc.m)
			if r.Reason != tc.reason || r.Class != tc.reason.Class() {
				t.Fatalf("got %s/%s, want %s/%s (err %v)", r.Class, r.Reason, tc.reason.Class(), tc.reason, r.Err)
			}
			if r.Success != tc.success {
				t.Errorf("success = %v, want %v", r.Success, tc.success)
			}
			host, _, _ := net.SplitHostPort(tc.target)
			if r.Responder != netip.MustParseAddr(host) {
				t.Errorf("responder = %v, want the target %s", r.Responder, host)
			}
			if r.Banner != tc.banner {
				t.Errorf("banner = %q, want %q", r.Banner, tc.banner)
			}
			for _, ph := range []Phase{PhaseResolve, PhaseConnect, PhaseHold} {
				if _, ok := r.PhaseDuration(ph); !ok {
					t.Errorf("phase %s missing", ph)
				}
			}
		})
	}
}

func TestHoldTiming(t *testing.T) {
	silent := testnet.Serve(t, "tcp4", "127.0.0.1:0", testnet.KeepOpen)
	for _, hold := range []time.Duration{0, 200 * time.Millisecond, 400 * time.Millisecond} {
		t.Run(hold.String(), func(t *testing.T) {
			r := probeTarget(t, silent, module(t, fmt.Sprintf("    tcp:\n      hold: %s\n", hold)))
			got, _ := r.PhaseDuration(PhaseHold)
			if got < hold || got > hold+50*time.Millisecond {
				t.Fatalf("hold phase took %s, want %s (+50ms)", got, hold)
			}
			if r.Class != verdict.Connected {
				t.Fatalf("class %s", r.Class)
			}
		})
	}
}

// The hold never outlives the probe's deadline.
func TestHoldIsCutByDeadline(t *testing.T) {
	silent := testnet.Serve(t, "tcp4", "127.0.0.1:0", testnet.KeepOpen)
	m := module(t, "    tcp:\n      hold: 5s\n")
	tg, _ := ParseTarget(silent)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	r := Probe(ctx, tg, m, Options{})
	if el := time.Since(start); el > 400*time.Millisecond {
		t.Fatalf("probe took %s, deadline was 300ms", el)
	}
	if r.Class != verdict.Connected || !r.Success {
		t.Fatalf("got %s success=%v", r.Summary(), r.Success)
	}
}

func TestQueryResponse(t *testing.T) {
	ssh := testnet.Serve(t, "tcp4", "127.0.0.1:0", func(c *net.TCPConn) {
		_, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"))
		buf := make([]byte, 128)
		n, _ := c.Read(buf)
		if strings.HasPrefix(string(buf[:n]), "PONG 9.2p1") {
			_, _ = c.Write([]byte("OK\r\n"))
		}
		testnet.KeepOpen(c)
	})
	deniedAfterBanner := testnet.Serve(t, "tcp4", "127.0.0.1:0", func(c *net.TCPConn) {
		_, _ = c.Write([]byte("220 hello\r\n"))
		_ = c.Close()
	})
	cases := []struct {
		name        string
		target      string
		yaml        string
		class       verdict.Class
		success     bool
		failedRegex bool
		labels      []ExpectLabel
	}{
		{"expect, labels, send and expect again", ssh,
			"    tcp:\n      hold: 0s\n      query_response:\n        - expect: \"^SSH-2.0-OpenSSH_([^ ]+)(?: (.*))?$\"\n          labels:\n            - {name: ssh_version, value: \"${1}\"}\n          send: \"PONG ${1}\"\n        - expect: \"^OK\"\n",
			verdict.Connected, true, false, []ExpectLabel{{"ssh_version", "9.2p1"}}},
		{"expect_bytes", ssh, "    tcp:\n      hold: 0s\n      query_response:\n        - expect_bytes: \"OpenSSH\"\n", verdict.Connected, true, false, nil},
		{"expect not met before timeout", ssh, "    timeout: 300ms\n    tcp:\n      hold: 0s\n      query_response:\n        - expect: \"^220\"\n", verdict.Connected, false, true, nil},
		{"peer closes while we expect", deniedAfterBanner, "    tcp:\n      query_response:\n        - expect: \"^250\"\n", verdict.ClosedByPeer, false, true, nil},
		{"expect met, then peer closes in the hold", deniedAfterBanner, "    tcp:\n      query_response:\n        - expect: \"^220\"\n", verdict.ClosedByPeer, false, false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := probeTarget(t, tc.target, module(t, tc.yaml))
			if r.Class != tc.class || r.Success != tc.success || r.FailedDueToRegex != tc.failedRegex {
				t.Fatalf("got %s success=%v failedRegex=%v (%s), want %s %v %v", r.Class, r.Success, r.FailedDueToRegex, r.Failure, tc.class, tc.success, tc.failedRegex)
			}
			if fmt.Sprint(r.ExpectLabels) != fmt.Sprint(tc.labels) {
				t.Errorf("labels = %v, want %v", r.ExpectLabels, tc.labels)
			}
			if _, ok := r.PhaseDuration(PhaseQuery); !ok {
				t.Error("query phase missing")
			}
		})
	}
}

func selfSignedTLS(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

func TestTLS(t *testing.T) {
	cfg := selfSignedTLS(t)
	tlsServer := testnet.Serve(t, "tcp4", "127.0.0.1:0", func(c *net.TCPConn) {
		s := tls.Server(c, cfg)
		if s.Handshake() == nil {
			_, _ = s.Write([]byte("+OK ready\r\n"))
		}
		testnet.KeepOpen(c)
	})
	plain := testnet.Serve(t, "tcp4", "127.0.0.1:0", func(c *net.TCPConn) { _ = c.Close() })

	insecure := "    tcp:\n      hold: 100ms\n      tls: true\n      tls_config: {insecure_skip_verify: true}\n      query_response:\n        - expect: \"^\\\\+OK\"\n"
	r := probeTarget(t, tlsServer, module(t, insecure))
	if r.Class != verdict.Connected || !r.Success {
		t.Fatalf("tls with insecure_skip_verify: %s success=%v failure=%q", r.Summary(), r.Success, r.Failure)
	}
	if _, ok := r.PhaseDuration(PhaseTLS); !ok {
		t.Error("tls phase missing")
	}
	// An untrusted certificate: TCP is fine, the probe is not.
	r = probeTarget(t, tlsServer, module(t, "    tcp:\n      tls: true\n"))
	if r.Class != verdict.Connected || r.Success || !strings.Contains(r.Failure, "tls handshake") {
		t.Fatalf("untrusted cert: %s success=%v failure=%q", r.Summary(), r.Success, r.Failure)
	}
	// A server that closes during the handshake closed the session.
	r = probeTarget(t, plain, module(t, insecure))
	if r.Class != verdict.ClosedByPeer || r.Success {
		t.Fatalf("close during handshake: %s", r.Summary())
	}
}

func TestBadSourceAddressIsLocalError(t *testing.T) {
	silent := testnet.Serve(t, "tcp4", "127.0.0.1:0", testnet.KeepOpen)
	// 192.0.2.0/24 is TEST-NET-1: no host here owns it, so bind() fails.
	r := probeTarget(t, silent, module(t, "    tcp:\n      source_ip_address: 192.0.2.55\n"))
	if r.Class != verdict.Error || r.Reason != verdict.LocalError {
		t.Fatalf("got %s, want error/local-error", r.Summary())
	}
	if r.Responder.IsValid() {
		t.Errorf("a local error has no responder, got %s", r.Responder)
	}
	r = probeTarget(t, silent, module(t, "    tcp:\n      source_ip_address: \"::1\"\n"))
	if r.Class != verdict.Error {
		t.Fatalf("family mismatch: got %s, want error", r.Summary())
	}
}

func TestResolverFailureIsDNSError(t *testing.T) {
	// A resolver that cannot reach any server: no query leaves the machine.
	res := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return nil, errors.New("no DNS server in this test")
	}}
	tg, _ := ParseTarget("does-not-matter.test:22")
	r := Probe(context.Background(), tg, module(t, ""), Options{Resolver: res})
	if r.Class != verdict.DNSError {
		t.Fatalf("got %s, want dns_error", r.Summary())
	}
}

// An IP literal of the family a module without fallback does not allow is
// not dialled, as blackbox_exporter's resolver refuses it (test/blackbox
// compares the two); with the fallback on, it is.
func TestLiteralOfTheOtherFamily(t *testing.T) {
	open := testnet.Serve(t, "tcp4", "127.0.0.1:0", testnet.KeepOpen)
	_, port, _ := net.SplitHostPort(open)
	for _, c := range []struct {
		target, yaml string
		class        verdict.Class
	}{
		{"127.0.0.1:" + port, "preferred_ip_protocol: ip6, ip_protocol_fallback: false", verdict.DNSError},
		{"[::ffff:127.0.0.1]:" + port, "preferred_ip_protocol: ip6, ip_protocol_fallback: false", verdict.DNSError},
		{"[::1]:" + port, "preferred_ip_protocol: ip4, ip_protocol_fallback: false", verdict.DNSError},
		{"127.0.0.1:" + port, "preferred_ip_protocol: ip6", verdict.Connected},
		{"127.0.0.1:" + port, "preferred_ip_protocol: ip4, ip_protocol_fallback: false", verdict.Connected},
	} {
		r := probeTarget(t, c.target, module(t, "    tcp: {hold: 0s, "+c.yaml+"}\n"))
		if r.Class != c.class {
			t.Errorf("%s with {%s}: got %s, want %s", c.target, c.yaml, r.Summary(), c.class)
		}
		if c.class == verdict.DNSError && (r.Addr.IsValid() || r.IPProtocol != 0) {
			t.Errorf("%s with {%s}: dialled %v (ip%d), want nothing dialled", c.target, c.yaml, r.Addr, r.IPProtocol)
		}
	}
}

func TestLocalhostResolves(t *testing.T) {
	silent := testnet.Serve(t, "tcp4", "127.0.0.1:0", testnet.KeepOpen)
	_, port, _ := net.SplitHostPort(silent)
	r := probeTarget(t, "localhost:"+port, module(t, "    tcp:\n      preferred_ip_protocol: ip4\n      hold: 0s\n"))
	if r.Class != verdict.Connected || r.IPProtocol != 4 {
		t.Fatalf("got %s ip%d", r.Summary(), r.IPProtocol)
	}
}
