package handler

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tcp-verdict/tcp_verdict_exporter/collector"
	"github.com/tcp-verdict/tcp_verdict_exporter/config"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
)

const traceConfig = `modules:
  trace:
    prober: tcp
    timeout: 1s
    tcp:
      preferred_ip_protocol: ip4
      trace: {enabled: true, max_hops: 8, timeout: 200ms}
`

// A path trace starved of descriptors says so: a warn log line and
// tcp_trace_skipped{reason="descriptors"}, beside the unchanged verdict.
// The child process has the connect's socket but not the trace's eight.
func TestTraceStarvedOfDescriptorsSaysSo(t *testing.T) {
	if os.Getenv("TVE_TRACE_EMFILE_CHILD") == "1" {
		traceStarvedChild()
		return
	}
	path := t.TempDir() + "/config.yml"
	if err := os.WriteFile(path, []byte(traceConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	dropped := testnet.FullBacklog(t) // the SYN gets no answer: firewall, a trace is due
	cmd := exec.Command(os.Args[0], "-test.run=^TestTraceStarvedOfDescriptorsSaysSo$")
	cmd.Env = append(os.Environ(), "TVE_TRACE_EMFILE_CHILD=1", "TVE_TRACE_EMFILE_TARGET="+dropped.String(), "TVE_TRACE_EMFILE_CONFIG="+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child failed: %v\n%s", err, out)
	}
	for _, want := range []string{
		`tcp_verdict{class="firewall"} 1`,
		`tcp_trace_skipped{reason="descriptors"} 1`,
		`level=WARN msg="path trace could not run"`,
		"too many open files",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("child output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "tcp_trace_hops_answered") {
		t.Errorf("a trace that did not run has hop series:\n%s", out)
	}
}

func traceStarvedChild() {
	fail := func(err error) {
		fmt.Println("child:", err)
		os.Exit(3)
	}
	store, err := config.NewStore(os.Getenv("TVE_TRACE_EMFILE_CONFIG"), nil)
	if err != nil {
		fail(err)
	}
	h := &Probe{Store: store, Exporter: collector.NewExporter(prometheus.NewRegistry(), store),
		Logger: slog.New(slog.NewTextHandler(os.Stdout, nil))}
	req := httptest.NewRequest(http.MethodGet, "/probe?module=trace&target="+os.Getenv("TVE_TRACE_EMFILE_TARGET"), nil)
	rec := httptest.NewRecorder()
	lim := syscall.Rlimit{Cur: 64, Max: 64}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fail(err)
	}
	// Use up every descriptor, then give three back: one for the connect.
	var files []*os.File
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			break
		}
		files = append(files, f)
	}
	if len(files) < 3 {
		fail(fmt.Errorf("only %d descriptors to give back", len(files)))
	}
	for _, f := range files[len(files)-3:] {
		_ = f.Close() // /dev/null: nothing to lose
	}
	h.ServeHTTP(rec, req)
	fmt.Printf("status %d\n%s", rec.Code, rec.Body.String())
	os.Exit(0)
}
