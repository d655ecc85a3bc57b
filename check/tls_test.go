package check

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testpki"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// A TLS probe that fails says so: exit status 3, the real handshake error,
// the cause, that TCP is fine and whom to ask; never "all is well".
func TestTLSFailureExplained(t *testing.T) {
	t.Parallel()
	ca := testpki.NewCA(t)
	valid := testpki.Serve(t, "tcp4", ca.Issue(t, testpki.Spec{IPs: []string{"127.0.0.1"}}))
	expired := testpki.Serve(t, "tcp4", ca.Issue(t, testpki.Spec{IPs: []string{"127.0.0.1"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}))
	plaintext := testpki.ServePlaintext(t, "SSH-2.0-OpenSSH_9.2p1\r\n", false)
	cfg := filepath.Join(t.TempDir(), "tls.yml")
	if err := os.WriteFile(cfg, []byte("modules:\n  tls:\n    prober: tcp\n    tcp:\n      hold: 0s\n      tls: true\n      tls_config: {ca_file: "+ca.File+"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	r := runCheck(t, Options{Targets: []string{valid}, Module: "tls", ConfigFile: cfg})
	if r.code != 0 {
		t.Fatalf("valid certificate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// The summary table names the cause beside the class.
	r = runCheck(t, Options{Targets: []string{valid, expired}, Module: "tls", ConfigFile: cfg})
	if !strings.Contains(r.stdout, "connected, expired ") || r.code != ExitExpectFailed {
		t.Errorf("two targets: exit %d, table lacks \"connected, expired\":\n%s", r.code, r.stdout)
	}

	cases := []struct {
		target string
		cause  verdict.Cause
		words  []string
	}{
		{expired, verdict.CauseExpired, []string{"x509: certificate has expired", "renew its certificate"}},
		{plaintext, verdict.CauseNotTLS, []string{"first record does not look like a TLS handshake", "banner    SSH-2.0-OpenSSH_9.2p1", "enable TLS on this port"}},
	}
	for _, tc := range cases {
		r := runCheck(t, Options{Targets: []string{tc.target}, Module: "tls", ConfigFile: cfg})
		if r.code != ExitExpectFailed {
			t.Errorf("%s: exit %d, want %d\n%s", tc.cause, r.code, ExitExpectFailed, r.stdout)
		}
		words := append(tc.words, "verdict   connected", "the TCP handshake completed (the path and the port are fine)",
			"cause     "+string(tc.cause)+" (phase tls)", "ask       the team that runs the service")
		for _, w := range words {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("%s: output lacks %q:\n%s", tc.cause, w, r.stdout)
			}
		}
		if strings.Contains(r.stdout, "all is well") {
			t.Errorf("%s: a failed probe says all is well:\n%s", tc.cause, r.stdout)
		}

		r = runCheck(t, Options{Targets: []string{tc.target}, Module: "tls", ConfigFile: cfg, Output: OutputJSON})
		var doc struct {
			Results []struct {
				FailureCause string `json:"failure_cause"`
				FailurePhase string `json:"failure_phase"`
				Ask          string `json:"ask"`
			} `json:"results"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || len(doc.Results) != 1 {
			t.Fatalf("json: %v\n%s", err, r.stdout)
		}
		if got := doc.Results[0]; got.FailureCause != string(tc.cause) || got.FailurePhase != "tls" || got.Ask != tc.cause.Info().Ask {
			t.Errorf("json: %+v, want cause %s, phase tls, the cause's ask", got, tc.cause)
		}
	}
}
