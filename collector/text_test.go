package collector

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// The fast text path must serve exactly what a registry serves.
func TestAppendTextMatchesRegistry(t *testing.T) {
	phases := []prober.PhaseDuration{{Phase: prober.PhaseResolve, Duration: 1000}, {Phase: prober.PhaseConnect, Duration: 123456}, {Phase: prober.PhaseTLS, Duration: 7}, {Phase: prober.PhaseQuery, Duration: 9}, {Phase: prober.PhaseHold, Duration: 5}}
	results := map[string]prober.Result{
		"connected with expect labels": {
			Class: verdict.Connected, Reason: verdict.SynAck, Success: true, IPProtocol: 4,
			Responder: netip.MustParseAddr("127.0.0.1"), Addr: netip.MustParseAddrPort("127.0.0.1:80"),
			Phases: phases, Duration: 7654321 * time.Nanosecond,
			ExpectLabels: []prober.ExpectLabel{{Name: "version", Value: "a\"b\\c\nd"}, {Name: "a_first", Value: "x"}},
		},
		"firewall from a router, v6": {
			Class: verdict.Firewall, Reason: verdict.AdminProhibited, IPProtocol: 6,
			Responder: netip.MustParseAddr("fd00::1"), Addr: netip.MustParseAddrPort("[fd00::2]:443"),
			Phases: phases[:2], Duration: 3 * time.Second, FailedDueToRegex: true,
		},
		"dns error, nothing resolved": {Class: verdict.DNSError, Reason: verdict.NXDomain},
		"expected blocked, found firewall": {
			Class: verdict.Firewall, Reason: verdict.NoResponse, IPProtocol: 4, Success: true,
			Addr: netip.MustParseAddrPort("192.0.2.3:5432"), Phases: phases[:2],
			Expectation: verdict.AliasExpectation(verdict.AliasBlocked), Expected: true,
		},
		"expected blocked, found connected": {
			Class: verdict.Connected, Reason: verdict.SynAck, IPProtocol: 4,
			Addr: netip.MustParseAddrPort("192.0.2.3:5432"), Phases: phases,
			Expectation: verdict.AliasExpectation(verdict.AliasBlocked),
		},
		"every address of a name": {
			Class: verdict.Connected, Reason: verdict.SynAck, Success: true, IPProtocol: 4,
			Responder: netip.MustParseAddr("192.0.2.2"), Addr: netip.MustParseAddrPort("192.0.2.2:80"), Phases: phases,
			Addresses: []prober.AddressResult{
				{Addr: netip.MustParseAddrPort("192.0.2.9:80"), Class: verdict.Refused, Reason: verdict.ConnRefused, Responder: netip.MustParseAddr("192.0.2.9")},
				{Addr: netip.MustParseAddrPort("192.0.2.2:80"), Class: verdict.Connected, Reason: verdict.SynAck, Responder: netip.MustParseAddr("192.0.2.2")},
				{Addr: netip.MustParseAddrPort("[2001:db8::1]:80"), Class: verdict.Firewall, Reason: verdict.NoResponse},
			},
		},
		"intermittent attempts": {
			Class: verdict.Firewall, Reason: verdict.NoResponse, IPProtocol: 4, SynRetransmits: 2,
			Addr: netip.MustParseAddrPort("192.0.2.2:80"), Phases: phases[:2],
			Attempts: []prober.AttemptResult{{Class: verdict.Connected, SynRetransmits: 2}, {Class: verdict.Firewall}, {Class: verdict.Connected}},
		},
		"tls handshake done, then a query failed": {
			Class: verdict.Connected, Reason: verdict.SynAck, IPProtocol: 4, Cause: verdict.CauseExpectTimeout,
			Addr: netip.MustParseAddrPort("127.0.0.1:443"), Phases: phases,
			TLS: &tls.ConnectionState{Version: tls.VersionTLS12, CipherSuite: tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
				PeerCertificates: []*x509.Certificate{
					{SerialNumber: big.NewInt(0x00ff), NotAfter: time.Unix(1900000000, 0), DNSNames: []string{"a.test", "b.test"},
						Subject: pkix.Name{CommonName: `a "quoted" \ name`}, Issuer: pkix.Name{CommonName: "CA"}},
					{SerialNumber: big.NewInt(1), NotAfter: time.Unix(1800000000, 0)},
				}},
		},
	}
	for name, r := range results {
		t.Run(name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			reg.MustRegister(Probe{Result: &r})
			rec := httptest.NewRecorder()
			promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
			var b bytes.Buffer
			AppendText(&b, &r)
			if rec.Body.String() != b.String() {
				t.Errorf("registry:\n%s\nAppendText:\n%s", rec.Body.String(), b.String())
			}
			if ct := rec.Header().Get("Content-Type"); ct != TextContentType {
				t.Errorf("content type %q, registry serves %q", TextContentType, ct)
			}
		})
	}
}

// Every verdict names the address dialled; each address of a name has its
// own series only when the module dials them all.
func TestAddressLabels(t *testing.T) {
	one := prober.Result{Class: verdict.Refused, Reason: verdict.ConnRefused,
		Responder: netip.MustParseAddr("192.0.2.9"), Addr: netip.MustParseAddrPort("192.0.2.9:80")}
	all := one
	all.Addresses = []prober.AddressResult{
		{Addr: netip.MustParseAddrPort("192.0.2.9:80"), Class: verdict.Refused, Reason: verdict.ConnRefused, Responder: netip.MustParseAddr("192.0.2.9")},
		{Addr: netip.MustParseAddrPort("[2001:db8::1]:80"), Class: verdict.Firewall, Reason: verdict.NoResponse},
	}
	dns := prober.Result{Class: verdict.DNSError, Reason: verdict.NXDomain}
	cases := []struct {
		name      string
		r         prober.Result
		want, not []string
	}{
		{"first", one, []string{`tcp_verdict_info{address="192.0.2.9",class="refused",reason="conn-refused",responder="192.0.2.9"} 1`},
			[]string{"tcp_address_verdict_info"}},
		{"all", all, []string{
			`tcp_verdict_info{address="192.0.2.9",class="refused",reason="conn-refused",responder="192.0.2.9"} 1`,
			`tcp_address_verdict_info{address="192.0.2.9",class="refused",reason="conn-refused",responder="192.0.2.9"} 1`,
			`tcp_address_verdict_info{address="2001:db8::1",class="firewall",reason="no-response",responder=""} 1`,
		}, nil},
		{"dns error", dns, []string{`tcp_verdict_info{address="",class="dns_error",reason="nxdomain",responder=""} 1`},
			[]string{"tcp_address_verdict_info"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			AppendText(&b, &tc.r)
			for _, w := range tc.want {
				if !bytes.Contains(b.Bytes(), []byte(w+"\n")) {
					t.Errorf("no line %s in\n%s", w, b.String())
				}
			}
			for _, n := range tc.not {
				if bytes.Contains(b.Bytes(), []byte(n)) {
					t.Errorf("%s in\n%s", n, b.String())
				}
			}
		})
	}
}

// tcp_verdict_expected says whether the verdict was expected, names the
// expectation, and is absent when there is none: "absent" then means "no
// intent stated", never "not expected".
func TestVerdictExpected(t *testing.T) {
	blocked := verdict.AliasExpectation(verdict.AliasBlocked)
	cases := []struct {
		name      string
		r         prober.Result
		want, not []string
	}{
		{"held", prober.Result{Class: verdict.Firewall, Reason: verdict.NoResponse, Expectation: blocked, Expected: true, Success: true},
			[]string{`tcp_verdict_expected{expectation="firewall,unreachable"} 1`, "probe_success 1"}, nil},
		{"breached", prober.Result{Class: verdict.Refused, Reason: verdict.ConnRefused, Expectation: blocked},
			[]string{`tcp_verdict_expected{expectation="firewall,unreachable"} 0`, "probe_success 0"}, nil},
		{"none", prober.Result{Class: verdict.Connected, Reason: verdict.SynAck, Success: true},
			[]string{"probe_success 1"}, []string{"tcp_verdict_expected"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			AppendText(&b, &tc.r)
			for _, w := range tc.want {
				if !bytes.Contains(b.Bytes(), []byte("\n"+w+"\n")) {
					t.Errorf("no line %s in\n%s", w, b.String())
				}
			}
			for _, n := range tc.not {
				if bytes.Contains(b.Bytes(), []byte(n)) {
					t.Errorf("%s present in\n%s", n, b.String())
				}
			}
		})
	}
}

// tcp_verdict_attempts has every class, 0s included, when the module makes
// several attempts, and is absent with one; tcp_syn_retransmits is always
// there.
func TestAttemptSeries(t *testing.T) {
	one := prober.Result{Class: verdict.Connected, Reason: verdict.SynAck, SynRetransmits: 1}
	mixed := prober.Result{Class: verdict.Firewall, Reason: verdict.NoResponse, SynRetransmits: 1,
		Attempts: []prober.AttemptResult{{Class: verdict.Connected, SynRetransmits: 1}, {Class: verdict.Firewall}, {Class: verdict.Firewall}}}
	var b bytes.Buffer
	AppendText(&b, &one)
	if !bytes.Contains(b.Bytes(), []byte("\ntcp_syn_retransmits 1\n")) || bytes.Contains(b.Bytes(), []byte("tcp_verdict_attempts")) {
		t.Errorf("one attempt: want tcp_syn_retransmits 1 and no tcp_verdict_attempts in\n%s", b.String())
	}
	b.Reset()
	AppendText(&b, &mixed)
	for _, ci := range verdict.Classes {
		want := 0
		switch ci.Class {
		case verdict.Connected:
			want = 1
		case verdict.Firewall:
			want = 2
		}
		line := fmt.Sprintf("tcp_verdict_attempts{class=%q} %d\n", ci.Class, want)
		if !bytes.Contains(b.Bytes(), []byte(line)) {
			t.Errorf("no line %s in\n%s", strings.TrimSpace(line), b.String())
		}
	}
}
