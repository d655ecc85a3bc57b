package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/exporterproc"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// buildBinary builds the exporter once for all the process tests.
func buildBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tve-main-test")
		if err != nil {
			buildErr = err
			return
		}
		builtBin, buildErr = exporterproc.Build(dir)
		if buildErr != nil {
			_ = os.RemoveAll(dir) // best effort: the build error is what matters
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		if err := os.RemoveAll(filepath.Dir(builtBin)); err != nil {
			fmt.Fprintln(os.Stderr, "removing the test binary:", err)
		}
	}
	os.Exit(code)
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	b, err := io.ReadAll(resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestConfigCheck(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yml")
	bad := filepath.Join(dir, "bad.yml")
	writeFile(t, good, "modules:\n  tcp:\n    prober: tcp\n")
	writeFile(t, bad, "modules:\n  tcp:\n    prober: tcp\n    tcp:\n      hodl: 1s\n")

	out, err := exec.Command(bin, "--config.file="+good, "--config.check").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "config is valid") {
		t.Fatalf("good config: %v %s", err, out)
	}
	out, err = exec.Command(bin, "--config.check").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "embedded default config.yml: config is valid") {
		t.Fatalf("embedded config: %v %s", err, out)
	}
	out, err = exec.Command(bin, "--config.file="+bad, "--config.check").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "line 5: field hodl not found") {
		t.Fatalf("bad config: want a failure naming the key and line, got %v %s", err, out)
	}
}

func TestServeReloadAndShutdown(t *testing.T) {
	bin := buildBinary(t)
	cfg := filepath.Join(t.TempDir(), "config.yml")
	writeFile(t, cfg, "modules:\n  tcp:\n    prober: tcp\n    tcp: {preferred_ip_protocol: ip4, hold: 0s}\n")
	addr := testnet.ClosedPort(t, "tcp4", "127.0.0.1:0")
	base := "http://" + addr
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	exporter := exporterproc.Run(ctx, t, "exporter", exec.Command(bin, "--config.file="+cfg, "--web.listen-address="+addr), base+"/-/healthy")

	if code, body := httpGet(t, base+"/"); code != 200 || !strings.Contains(body, `name="target"`) || strings.Contains(body, "debug/pprof") {
		t.Errorf("landing page: %d, no probe form or a pprof link while pprof is off", code)
	}
	closed := testnet.ClosedPort(t, "tcp4", "127.0.0.1:0")
	if code, body := httpGet(t, base+"/probe?target="+closed); code != 200 || !strings.Contains(body, `tcp_verdict{class="refused"} 1`) {
		t.Errorf("probe of a closed port: %d\n%s", code, body)
	}
	code, body := httpGet(t, base+"/metrics")
	for _, want := range []string{
		`tcp_verdict_exporter_probes_total{class="refused",module="tcp"} 1`,
		`tcp_verdict_exporter_probes_total{class="connected",module="tcp"} 0`,
		"tcp_verdict_exporter_config_last_reload_successful 1",
		"tcp_verdict_exporter_build_info{", "go_goroutines", "process_cpu_seconds_total",
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code, _ := httpGet(t, base+"/debug/pprof/"); code == 200 {
		t.Error("pprof served without --web.enable-pprof")
	}

	// A bad file on SIGHUP keeps the running config and clears the gauge.
	writeFile(t, cfg, "modules: [oops\n")
	if err := exporter.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		_, body = httpGet(t, base+"/metrics")
		if strings.Contains(body, "tcp_verdict_exporter_config_last_reload_successful 0") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("bad reload not reported on /metrics")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, _ := httpGet(t, base+"/probe?target="+closed+"&module=tcp"); code != 200 {
		t.Errorf("probe after a bad reload: status %d", code)
	}

	if err := exporter.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exporter.Exited():
		if err := exporter.Err(); err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no graceful exit after SIGTERM")
	}
}

func TestBadFlagExitsNonZero(t *testing.T) {
	bin := buildBinary(t)
	out, err := exec.Command(bin, "--no-such-flag").CombinedOutput()
	if err == nil {
		t.Fatalf("unknown flag accepted: %s", out)
	}
	if !strings.Contains(string(out), "no-such-flag") {
		t.Errorf("error does not name the flag: %s", out)
	}
}

// The check command is wired: a refused port exits with refused's code, bad
// input with 2 and one line on stderr.
func TestCheckCommand(t *testing.T) {
	bin := buildBinary(t)
	closed := testnet.ClosedPort(t, "tcp4", "127.0.0.1:0")
	cmd := exec.Command(bin, "check", closed)
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != verdict.Refused.Info().ExitCode {
		t.Fatalf("check %s: %v, want exit %d\n%s", closed, err, verdict.Refused.Info().ExitCode, out)
	}
	if !strings.Contains(string(out), "verdict   refused (conn-refused") {
		t.Errorf("no verdict block:\n%s", out)
	}
	out, err = exec.Command(bin, "check", "127.0.0.1").CombinedOutput()
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 2 || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 {
		t.Fatalf("check without a port: %v, want exit 2 and one line\n%s", err, out)
	}
}

// exporter-toolkit's --web.config.file protects every endpoint: a probe
// without the password is refused, with it served.
func TestWebConfigBasicAuth(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webCfg := filepath.Join(dir, "web.yml")
	writeFile(t, webCfg, "basic_auth_users:\n  prometheus: "+string(hash)+"\n")
	addr := testnet.ClosedPort(t, "tcp4", "127.0.0.1:0")
	proc, err := exporterproc.Start("exporter", exec.Command(bin, "--web.listen-address="+addr, "--web.config.file="+webCfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proc.Stop(5 * time.Second) })

	target := testnet.ClosedPort(t, "tcp4", "127.0.0.1:0")
	url := "http://" + addr + "/probe?target=" + target
	var resp *http.Response
	for i := 0; ; i++ {
		if resp, err = http.Get(url); err == nil {
			break
		}
		if i > 100 {
			t.Fatalf("exporter did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = resp.Body.Close() // unread: only the status matters
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("probe without credentials: status %d, want 401", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.SetBasicAuth("prometheus", "s3cret")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `tcp_verdict{class="refused"} 1`) {
		t.Fatalf("probe with credentials: status %d\n%s", resp.StatusCode, body)
	}
}
