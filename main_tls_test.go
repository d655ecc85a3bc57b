package main

import (
	"context"
	"errors"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/exporterproc"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testpki"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// TLS end to end through the real binary: /probe and `check` against
// loopback servers with certificates made here, by IP and by name
// (tls_config.server_name), a wrong name and a plaintext port.
func TestTLSEndToEnd(t *testing.T) {
	bin := buildBinary(t)
	ca := testpki.NewCA(t)
	leaf := ca.Issue(t, testpki.Spec{DNSNames: []string{"tls.test"}, IPs: []string{"127.0.0.1"}})
	valid := testpki.Serve(t, "tcp4", leaf)
	wrongName := testpki.Serve(t, "tcp4", ca.Issue(t, testpki.Spec{DNSNames: []string{"other.test"}}))
	plaintext := testpki.ServePlaintext(t, "HTTP/1.1 400 Bad Request\r\n\r\n", true)

	cfg := filepath.Join(t.TempDir(), "config.yml")
	writeFile(t, cfg, "modules:\n"+
		"  tls:\n    prober: tcp\n    timeout: 3s\n    tcp:\n      hold: 0s\n      tls: true\n      tls_config: {ca_file: "+ca.File+"}\n"+
		"  tls_named:\n    prober: tcp\n    timeout: 3s\n    tcp:\n      hold: 0s\n      tls: true\n      tls_config: {ca_file: "+ca.File+", server_name: tls.test}\n")
	addr := testnet.ClosedPort(t, "tcp4", "127.0.0.1:0")
	base := "http://" + addr
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	exporterproc.Run(ctx, t, "exporter", exec.Command(bin, "--config.file="+cfg, "--web.listen-address="+addr), base+"/-/healthy")

	probe := func(module, target string, debug bool) string {
		q := url.Values{"module": {module}, "target": {target}}
		if debug {
			q.Set("debug", "true")
		}
		code, body := httpGet(t, base+"/probe?"+q.Encode())
		if code != 200 {
			t.Fatalf("/probe %s %s: status %d\n%s", module, target, code, body)
		}
		return body
	}
	expiry := "probe_ssl_earliest_cert_expiry " + strconv.FormatFloat(float64(leaf.Cert.NotAfter.Unix()), 'g', -1, 64) + "\n"
	for _, module := range []string{"tls", "tls_named"} {
		body := probe(module, valid, false)
		for _, want := range []string{"probe_success 1", expiry, `probe_tls_version_info{version="TLS 1.3"} 1`} {
			if !strings.Contains(body, want) {
				t.Errorf("%s %s: lacks %q\n%s", module, valid, want, body)
			}
		}
	}
	for _, tc := range []struct{ target, cause, err string }{
		{wrongName, "hostname-mismatch", "doesn't contain any IP SANs"},
		{plaintext, "not-tls", "first record does not look like a TLS handshake"},
	} {
		body := probe("tls", tc.target, false)
		if want := `tcp_session_failure_info{cause="` + tc.cause + `",phase="tls"} 1`; !strings.Contains(body, want) || !strings.Contains(body, "probe_success 0") {
			t.Errorf("%s: lacks %q and probe_success 0\n%s", tc.target, want, body)
		}
		if debug := probe("tls", tc.target, true); !strings.Contains(debug, tc.err) || strings.Contains(debug, "all is well") {
			t.Errorf("%s: debug text lacks the real error %q, or says all is well\n%s", tc.target, tc.err, debug)
		}

		out, err := exec.Command(bin, "check", "--config.file="+cfg, "--module=tls", tc.target).CombinedOutput()
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) || exitErr.ExitCode() != 3 {
			t.Errorf("check %s: %v, want exit 3\n%s", tc.target, err, out)
		}
		for _, want := range []string{tc.err, "cause     " + tc.cause + " (phase tls)", verdict.Cause(tc.cause).Info().Ask} {
			if !strings.Contains(string(out), want) {
				t.Errorf("check %s lacks %q\n%s", tc.target, want, out)
			}
		}
	}
}
