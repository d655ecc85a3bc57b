package report

import (
	"strings"
	"testing"

	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// A probe with probe_success 0 is never explained as a working one, whatever
// step failed after the connection, and even when no cause was named; a
// successful one still is.
func TestExplainFailedSession(t *testing.T) {
	connected := verdict.Connected.Info()
	cases := []struct {
		name  string
		r     prober.Result
		words []string // in the verdict block
	}{
		{"expired certificate", prober.Result{Class: verdict.Connected, Reason: verdict.SynAck, Cause: verdict.CauseExpired,
			Failure: "tls handshake: tls: failed to verify certificate: x509: certificate has expired"},
			[]string{"the TCP handshake completed (the path and the port are fine)", "certificate has expired", "cause     expired (phase tls)", "renew its certificate"}},
		{"plaintext port", prober.Result{Class: verdict.Connected, Reason: verdict.SynAck, Cause: verdict.CauseNotTLS, Banner: "HTTP/1.1 400 Bad Request",
			Failure: "tls handshake: tls: first record does not look like a TLS handshake"},
			[]string{"banner    HTTP/1.1 400 Bad Request", "not a TLS record", "enable TLS"}},
		{"query_response expect timed out", prober.Result{Class: verdict.Connected, Reason: verdict.SynAck, Cause: verdict.CauseExpectTimeout, FailedDueToRegex: true,
			Failure: `query_response[0]: expected "^220": read tcp: i/o timeout`},
			[]string{"no line matched a query_response expect", "cause     expect-timeout (phase query)"}},
		{"a failure without a named cause", prober.Result{Class: verdict.Connected, Reason: verdict.SynAck, Failure: "something new"},
			[]string{"a step after the connection failed", "failed    something new"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			block := VerdictBlock(&tc.r)
			for _, bad := range []string{connected.Ask, verdict.SynAck.Info().Evidence, verdict.SynAck.Info().Meaning} {
				if strings.Contains(block, bad) {
					t.Errorf("a failed probe is explained as a working one (%q):\n%s", bad, block)
				}
			}
			for _, w := range tc.words {
				if !strings.Contains(block, w) {
					t.Errorf("verdict block lacks %q:\n%s", w, block)
				}
			}
			if e := Explain(&tc.r); e.Owner != verdict.ClosedByPeer.Info().Owner {
				t.Errorf("owner %q, want the service's", e.Owner)
			}
		})
	}
	ok := prober.Result{Class: verdict.Connected, Reason: verdict.SynAck, Success: true}
	if block := VerdictBlock(&ok); !strings.Contains(block, connected.Ask) || strings.Contains(block, "cause") {
		t.Errorf("a successful probe:\n%s", block)
	}
}
