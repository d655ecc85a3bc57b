package handler

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tcp-verdict/tcp_verdict_exporter/collector"
	"github.com/tcp-verdict/tcp_verdict_exporter/config"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testpki"
)

// /probe of a TLS module: blackbox's TLS series after a good handshake; after
// a bad one, the cause as a series, the real error in the debug text and
// in the log, and no "all is well".
func TestProbeTLS(t *testing.T) {
	ca := testpki.NewCA(t)
	leaf := ca.Issue(t, testpki.Spec{IPs: []string{"127.0.0.1"}})
	valid := testpki.Serve(t, "tcp4", leaf)
	self := testpki.Serve(t, "tcp4", testpki.SelfSigned(t, testpki.Spec{IPs: []string{"127.0.0.1"}}))
	path := t.TempDir() + "/config.yml"
	cfg := fmt.Sprintf("modules:\n  tls:\n    prober: tcp\n    timeout: 2s\n    tcp:\n      hold: 0s\n      tls: true\n      tls_config: {ca_file: %s}\n", ca.File)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	store, err := config.NewStore(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	h := &Probe{Store: store, Exporter: collector.NewExporter(prometheus.NewRegistry(), store),
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}

	body := get(t, h, "module=tls&target="+valid, nil).Body.String()
	for _, want := range []string{"probe_success 1", "probe_ssl_earliest_cert_expiry " + strconv.FormatFloat(float64(leaf.Cert.NotAfter.Unix()), 'g', -1, 64) + "\n",
		`probe_tls_version_info{version="TLS 1.3"} 1`, "probe_tls_cipher_info{cipher=", "probe_ssl_last_chain_info{fingerprint_sha256="} {
		if !strings.Contains(body, want) {
			t.Errorf("valid: /probe lacks %q\n%s", want, body)
		}
	}

	body = get(t, h, "module=tls&target="+self, nil).Body.String()
	for _, want := range []string{"probe_success 0", `tcp_session_failure_info{cause="unknown-authority",phase="tls"} 1`, `tcp_verdict{class="connected"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("self-signed: /probe lacks %q\n%s", want, body)
		}
	}
	if strings.Contains(body, "probe_ssl_") {
		t.Errorf("self-signed: TLS series after a failed handshake\n%s", body)
	}
	debug := get(t, h, "module=tls&debug=true&target="+self, nil).Body.String()
	for _, want := range []string{"TLS handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority",
		"cause     unknown-authority (phase tls)", "the TCP handshake completed"} {
		if !strings.Contains(debug, want) {
			t.Errorf("debug text lacks %q\n%s", want, debug)
		}
	}
	if strings.Contains(debug, "all is well") {
		t.Errorf("debug text of a failed probe says all is well\n%s", debug)
	}
	if l := logs.String(); !strings.Contains(l, "unknown authority") || !strings.Contains(l, "failure_cause=unknown-authority") {
		t.Errorf("log lacks the real error and its cause:\n%s", l)
	}
}
