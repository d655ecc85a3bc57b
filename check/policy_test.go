package check

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
)

// The check command honours the config's target policy: a refused target
// is not dialled, its refusal is printed (stdout block and a stderr line),
// and the exit status is ExitBadInput whatever the other targets' codes.
func TestTargetPolicy(t *testing.T) {
	var accepts atomic.Int64
	guarded := testnet.Serve(t, "tcp4", "127.0.0.1:0", func(c *net.TCPConn) { accepts.Add(1); _ = c.Close() })
	_, port, _ := net.SplitHostPort(guarded)
	cfg := filepath.Join(t.TempDir(), "policy.yml")
	if err := os.WriteFile(cfg, []byte("target_policy:\n  deny: [127.0.0.1]\nmodules:\n  tcp:\n    prober: tcp\n    timeout: 2s\n    tcp: {preferred_ip_protocol: ip4, hold: 0s}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const refusal = "target 127.0.0.1 refused by target_policy.deny 127.0.0.1"

	t.Run("text", func(t *testing.T) {
		for _, target := range []string{guarded, "[::ffff:127.0.0.1]:" + port} {
			r := runCheck(t, Options{Targets: []string{target}, ConfigFile: cfg})
			if r.code != ExitBadInput {
				t.Errorf("%s: exit status %d, want %d", target, r.code, ExitBadInput)
			}
			if r.stderr != errPrefix+refusal+"\n" {
				t.Errorf("%s: stderr %q, want the one-line refusal", target, r.stderr)
			}
			want := "telnet: " + refusal + "\nverdict   none: " + refusedText + "\n"
			if r.stdout != want {
				t.Errorf("%s: stdout\n%s\nwant\n%s", target, r.stdout, want)
			}
		}
	})

	// 127.0.0.2 is loopback too, but not denied: nothing listens there, so
	// it is refused by the kernel (exit 5) — and the policy's 2 still wins.
	other := "127.0.0.2:" + port
	t.Run("json, several", func(t *testing.T) {
		r := runCheck(t, Options{Targets: []string{guarded, other}, ConfigFile: cfg, Output: OutputJSON})
		if r.code != ExitBadInput {
			t.Errorf("exit status %d, want %d", r.code, ExitBadInput)
		}
		var doc jsonReport
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
			t.Fatalf("%v\n%s", err, r.stdout)
		}
		if doc.ExitCode != ExitBadInput || len(doc.Results) != 2 {
			t.Fatalf("exit_code %d, %d results", doc.ExitCode, len(doc.Results))
		}
		got := doc.Results[0]
		if got.Refused != refusal || got.Class != "" || got.Reason != "" || got.ExitCode != ExitBadInput || got.Ask != "" {
			t.Errorf("refused result: refused %q class %q reason %q exit %d ask %q", got.Refused, got.Class, got.Reason, got.ExitCode, got.Ask)
		}
		if got := doc.Results[1]; got.Refused != "" || got.Class != "refused" || got.ExitCode != 5 {
			t.Errorf("allowed result: refused %q class %q exit %d, want refused by the kernel, exit 5", got.Refused, got.Class, got.ExitCode)
		}
		if r.stderr != errPrefix+refusal+"\n" {
			t.Errorf("stderr %q", r.stderr)
		}
	})

	t.Run("table", func(t *testing.T) {
		r := runCheck(t, Options{Targets: []string{guarded, other}, ConfigFile: cfg})
		if !strings.Contains(r.stdout, "not probed  target_policy") {
			t.Errorf("the table does not show the refusal:\n%s", r.stdout)
		}
	})

	time.Sleep(50 * time.Millisecond) // an accepted connection would be counted by now
	if n := accepts.Load(); n != 0 {
		t.Errorf("refused targets were dialled: %d connections accepted", n)
	}
}
