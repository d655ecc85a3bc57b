package collector

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tcp-verdict/tcp_verdict_exporter/config"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testpki"
	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

func probe(t *testing.T, target, yaml string) *prober.Result {
	t.Helper()
	c, err := config.Parse([]byte("modules:\n  m:\n    prober: tcp\n" + yaml))
	if err != nil {
		t.Fatal(err)
	}
	tg, err := prober.ParseTarget(target)
	if err != nil {
		t.Fatal(err)
	}
	r := prober.Probe(context.Background(), tg, c.Modules["m"], prober.Options{})
	return &r
}

// exposition renders r by both paths, fails unless they agree byte for
// byte, and returns the parsed families.
func exposition(t *testing.T, r *prober.Result) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(Probe{Result: r})
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	var b bytes.Buffer
	AppendText(&b, r)
	if rec.Body.String() != b.String() {
		t.Fatalf("registry:\n%s\nAppendText:\n%s", rec.Body.String(), b.String())
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(&b)
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

func labels(m *dto.Metric) map[string]string {
	l := map[string]string{}
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}

var tlsNames = []string{"probe_ssl_earliest_cert_expiry", "probe_ssl_last_chain_expiry_timestamp_seconds",
	"probe_ssl_last_chain_info", "probe_tls_version_info", "probe_tls_cipher_info"}

// blackbox_exporter's TLS series, from a real handshake with certificates
// made by the test: names, labels and values (the expiry timestamps are the
// certificates' NotAfter), and none of them when the handshake failed.
func TestTLSSeries(t *testing.T) {
	ca := testpki.NewCA(t)
	leaf := ca.Issue(t, testpki.Spec{DNSNames: []string{"tls.test", "alt.test"}, IPs: []string{"127.0.0.1"}, NotAfter: time.Now().Add(7 * time.Hour)})
	addr := testpki.Serve(t, "tcp4", leaf)
	module := "    tcp:\n      hold: 0s\n      tls: true\n      tls_config: {ca_file: " + ca.File + "}\n"

	mfs := exposition(t, probe(t, addr, module))
	for _, n := range tlsNames {
		if mfs[n] == nil || len(mfs[n].GetMetric()) != 1 {
			t.Fatalf("%s: want one series, got %v", n, mfs[n])
		}
	}
	// The leaf expires first; the CA's day outlives it.
	if got := mfs["probe_ssl_earliest_cert_expiry"].GetMetric()[0].GetGauge().GetValue(); got != float64(leaf.Cert.NotAfter.Unix()) {
		t.Errorf("probe_ssl_earliest_cert_expiry = %v, want the leaf's NotAfter %d", got, leaf.Cert.NotAfter.Unix())
	}
	if got := mfs["probe_ssl_last_chain_expiry_timestamp_seconds"].GetMetric()[0].GetGauge().GetValue(); got != float64(leaf.Cert.NotAfter.Unix()) {
		t.Errorf("probe_ssl_last_chain_expiry_timestamp_seconds = %v, want %d", got, leaf.Cert.NotAfter.Unix())
	}
	fp := sha256.Sum256(leaf.Cert.Raw)
	want := map[string]string{
		"fingerprint_sha256": hex.EncodeToString(fp[:]),
		"subject":            "CN=tls.test",
		"issuer":             "CN=tcp_verdict test CA,O=tcp_verdict tests",
		"subjectalternative": "tls.test,alt.test",
		"serialnumber":       "0200", // serial 2<<8: the bytes in hex
	}
	if got := labels(mfs["probe_ssl_last_chain_info"].GetMetric()[0]); !equal(got, want) {
		t.Errorf("probe_ssl_last_chain_info labels %v, want %v", got, want)
	}
	if got := labels(mfs["probe_tls_version_info"].GetMetric()[0])["version"]; got != "TLS 1.3" {
		t.Errorf("version %q", got)
	}
	if got := labels(mfs["probe_tls_cipher_info"].GetMetric()[0])["cipher"]; !strings.HasPrefix(got, "TLS_") {
		t.Errorf("cipher %q", got)
	}
	if mfs["tcp_session_failure_info"] != nil {
		t.Error("tcp_session_failure_info on a probe that succeeded")
	}

	// insecure_skip_verify verifies no chain: the last chain's expiry is the
	// zero time, as blackbox_exporter reports it.
	self := testpki.SelfSigned(t, testpki.Spec{IPs: []string{"127.0.0.1"}})
	mfs = exposition(t, probe(t, testpki.Serve(t, "tcp4", self), "    tcp:\n      hold: 0s\n      tls: true\n      tls_config: {insecure_skip_verify: true}\n"))
	if got := mfs["probe_ssl_last_chain_expiry_timestamp_seconds"].GetMetric()[0].GetGauge().GetValue(); got != float64(time.Time{}.Unix()) {
		t.Errorf("unverified: probe_ssl_last_chain_expiry_timestamp_seconds = %v, want %d", got, time.Time{}.Unix())
	}
	if got := mfs["probe_ssl_earliest_cert_expiry"].GetMetric()[0].GetGauge().GetValue(); got != float64(self.Cert.NotAfter.Unix()) {
		t.Errorf("unverified: probe_ssl_earliest_cert_expiry = %v, want %d", got, self.Cert.NotAfter.Unix())
	}

	// A failed verification: no TLS series at all (blackbox's tcp prober
	// registers them only after a successful handshake), and the cause.
	expired := ca.Issue(t, testpki.Spec{IPs: []string{"127.0.0.1"}, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	mfs = exposition(t, probe(t, testpki.Serve(t, "tcp4", expired), module))
	for _, n := range tlsNames {
		if mfs[n] != nil {
			t.Errorf("%s emitted after a failed handshake", n)
		}
	}
	fail := mfs["tcp_session_failure_info"]
	if fail == nil || len(fail.GetMetric()) != 1 {
		t.Fatalf("tcp_session_failure_info: want one series, got %v", fail)
	}
	if got := labels(fail.GetMetric()[0]); got["phase"] != "tls" || got["cause"] != string(verdict.CauseExpired) {
		t.Errorf("tcp_session_failure_info labels %v, want phase tls, cause expired", got)
	}
	if got := mfs["probe_success"].GetMetric()[0].GetGauge().GetValue(); got != 0 {
		t.Errorf("probe_success %v", got)
	}
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Every cause has a phase that the probe reports as a phase, a meaning and
// someone to ask, and the table names each cause once.
func TestCauseTable(t *testing.T) {
	seen := map[verdict.Cause]bool{}
	for _, c := range verdict.Causes {
		if seen[c.Cause] {
			t.Errorf("%s listed twice", c.Cause)
		}
		seen[c.Cause] = true
		if _, ok := phaseValues[prober.Phase(c.Phase)]; !ok {
			t.Errorf("%s: phase %q is not a probe phase", c.Cause, c.Phase)
		}
		if c.Evidence == "" || c.Meaning == "" || c.Ask == "" || c.Team == "" || c.Owner == "" {
			t.Errorf("%s: incomplete %+v", c.Cause, c)
		}
	}
}
