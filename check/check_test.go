package check

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// The repository's config.yml, the one embedded in the binary: the golden
// files show what a user of the default modules sees.
const configFile = "../config.yml"

// The listeners' ephemeral ports are replaced by these fixed five-digit
// names so that the golden files, and the table's column widths, do not
// change from run to run.
var portNames = map[string]string{
	"silent": "10001", "banner": "10002", "fin": "10003", "rst": "10004", "refused": "10005",
}

const sshBanner = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"

// lab holds loopback listeners, one per case, and maps their ports to names.
type lab struct {
	t     *testing.T
	ports map[string]string // real port -> name in the golden files
	mu    sync.Mutex
	held  []net.Conn
	peak  int // most connections held open at once (silent and banner)
}

func newLab(t *testing.T) *lab {
	l := &lab{t: t, ports: map[string]string{}}
	t.Cleanup(func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, c := range l.held {
			_ = c.Close() // the probes are over; a failed close changes nothing
		}
	})
	return l
}

// listen starts a loopback listener whose port has five digits and serves
// each connection with handle; it returns "127.0.0.1:port".
func (l *lab) listen(name string, handle func(*net.TCPConn)) string {
	l.t.Helper()
	for range 100 {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			l.t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		if len(port) != 5 {
			if err := ln.Close(); err != nil {
				l.t.Fatal(err)
			}
			continue
		}
		l.ports[port] = portNames[name]
		if handle == nil { // refused: nothing listens on a port just closed
			if err := ln.Close(); err != nil {
				l.t.Fatal(err)
			}
			return ln.Addr().String()
		}
		return testnet.Accept(l.t, ln, handle)
	}
	l.t.Fatal("no five-digit ephemeral port in 100 tries")
	return ""
}

func (l *lab) hold(c *net.TCPConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.held = append(l.held, c)
	open := 0
	for _, h := range l.held {
		if h != nil {
			open++
		}
	}
	l.peak = max(l.peak, open)
}

// The five cases a loopback can show.
func (l *lab) silent() string { return l.listen("silent", l.hold) }

func (l *lab) banner() string {
	return l.listen("banner", func(c *net.TCPConn) {
		l.hold(c)
		// In a handler goroutine, t may be done: the golden banner line is
		// what shows a failed write.
		_, _ = fmt.Fprintf(c, "%s\r\n", sshBanner)
	})
}

func (l *lab) fin() string {
	return l.listen("fin", func(c *net.TCPConn) { _ = c.Close() }) // the verdict shows a failed close
}

func (l *lab) rst() string {
	return l.listen("rst", func(c *net.TCPConn) {
		// Reset at once and the RST can beat the dialler to reading
		// SO_ERROR: connect() itself then fails with ECONNRESET, a
		// different case. Give the handshake time to be seen first.
		time.Sleep(100 * time.Millisecond)
		// The verdict shows whether these worked: reset, not fin.
		_ = c.SetLinger(0) // close with RST
		_ = c.Close()
	})
}

func (l *lab) refused() string { return l.listen("refused", nil) }

var (
	durationRE = regexp.MustCompile(`\d+(\.\d+)?(ns|µs|ms|h|m|s)`)
	secondsRE  = regexp.MustCompile(`("(duration_seconds|resolve|connect|tls|query|hold)": )-?[0-9][0-9.e+-]*`)
	portRE     = regexp.MustCompile(`(:| port )(\d{5})\b`)
)

// normalise replaces what changes from run to run: timings and ports.
func (l *lab) normalise(s string) string {
	s = durationRE.ReplaceAllString(s, "<t>")
	s = secondsRE.ReplaceAllString(s, "${1}0")
	return portRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := portRE.FindStringSubmatch(m)
		if name, ok := l.ports[sub[2]]; ok {
			return sub[1] + name
		}
		return m
	})
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./check/ -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test ./check/ -update rewrites it)\n--- got:\n%s\n--- want:\n%s", path, got, want)
	}
}

type run struct {
	code           int
	stdout, stderr string
}

func runCheck(t *testing.T, o Options) run {
	t.Helper()
	var stdout, stderr bytes.Buffer
	o.Stdout, o.Stderr = &stdout, &stderr
	if o.ConfigFile == "" && o.Store == nil {
		o.ConfigFile = configFile
	}
	code := Run(context.Background(), o)
	return run{code, stdout.String(), stderr.String()}
}

// TestGoldenText probes one loopback case per run and compares the text
// output, exit status and (empty) stderr.
func TestGoldenText(t *testing.T) {
	cases := []struct {
		name   string
		target func(*lab) string
		code   int
	}{
		{"connected_silent", (*lab).silent, 0},
		{"connected_banner", (*lab).banner, 0},
		{"closed_fin", (*lab).fin, verdict.ClosedByPeer.Info().ExitCode},
		{"closed_rst", (*lab).rst, verdict.ClosedByPeer.Info().ExitCode},
		{"refused", (*lab).refused, verdict.Refused.Info().ExitCode},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			l := newLab(t)
			r := runCheck(t, Options{Targets: []string{c.target(l)}})
			if r.code != c.code {
				t.Errorf("exit status %d, want %d", r.code, c.code)
			}
			if r.stderr != "" {
				t.Errorf("stderr: %q", r.stderr)
			}
			if strings.Contains(r.stdout, "\x1b") {
				t.Errorf("escape sequence in output to a non-terminal: %q", r.stdout)
			}
			golden(t, c.name+".golden", l.normalise(r.stdout))
		})
	}
}

func severalTargets(l *lab) []string {
	return []string{l.silent(), l.banner(), l.fin(), l.rst(), l.refused()}
}

// TestGoldenSeveral probes the five cases at once: blocks in the order
// given, then the summary table; the exit status is the highest code.
func TestGoldenSeveral(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	r := runCheck(t, Options{Targets: severalTargets(l)})
	if want := verdict.Refused.Info().ExitCode; r.code != want {
		t.Errorf("exit status %d, want %d (refused, the highest)", r.code, want)
	}
	if r.stderr != "" {
		t.Errorf("stderr: %q", r.stderr)
	}
	golden(t, "several.golden", l.normalise(r.stdout))
	if l.peak < 2 {
		t.Errorf("at most %d connection open at once: the targets were not probed concurrently", l.peak)
	}
}

var (
	sgrRE      = regexp.MustCompile(`\x1b\[[0-9;]*m`)
	progressRE = regexp.MustCompile(`\r\x1b\[K((\x1b\[2m)?checking: [^\r\n\x1b]*(\x1b\[0m)?)?`)
)

// TestTerminal checks that a terminal gets colour and a progress line, that
// NO_COLOR removes the colour, and that both leave the text itself alone.
func TestTerminal(t *testing.T) {
	for _, noColor := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoColor=%v", noColor), func(t *testing.T) {
			t.Parallel()
			l := newLab(t)
			r := runCheck(t, Options{Targets: severalTargets(l), IsTerminal: true, NoColor: noColor})
			if !strings.Contains(r.stdout, "\r\x1b[K") || !strings.Contains(r.stdout, "checking: ") {
				t.Errorf("no progress line on a terminal: %q", r.stdout)
			}
			hasColour := sgrRE.MatchString(r.stdout)
			if hasColour == noColor {
				t.Errorf("colour=%v with NoColor=%v: %q", hasColour, noColor, r.stdout)
			}
			plain := sgrRE.ReplaceAllString(progressRE.ReplaceAllString(r.stdout, ""), "")
			golden(t, "several.golden", l.normalise(plain))
		})
	}
}

// TestGoldenJSON compares the JSON document of the five cases.
func TestGoldenJSON(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	r := runCheck(t, Options{Targets: severalTargets(l), Output: OutputJSON, IsTerminal: true})
	if want := verdict.Refused.Info().ExitCode; r.code != want {
		t.Errorf("exit status %d, want %d", r.code, want)
	}
	if strings.Contains(r.stdout, "\x1b") {
		t.Errorf("escape sequence in JSON output: %q", r.stdout)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, r.stdout)
	}
	if doc["exit_code"] != float64(r.code) {
		t.Errorf("exit_code %v, exit status %d", doc["exit_code"], r.code)
	}
	golden(t, "several.json.golden", l.normalise(r.stdout))

	// Every result carries every field of the schema, even when empty.
	var synthetic struct{ Results []map[string]any }
	if err := json.Unmarshal([]byte(syntheticJSON(t)), &synthetic); err != nil {
		t.Fatal(err)
	}
	want := fieldNames(synthetic.Results[0])
	for i, res := range doc["results"].([]any) {
		if got := fieldNames(res.(map[string]any)); got != want {
			t.Errorf("result %d has fields %s, want %s", i, got, want)
		}
	}
}

func fieldNames(m map[string]any) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, " ")
}

// syntheticJSON is the document for a result with every field filled,
// including an ICMP error, which a loopback cannot produce.
func syntheticJSON(t *testing.T) string {
	t.Helper()
	r := prober.Result{
		Class: verdict.Firewall, Reason: verdict.AdminProhibited,
		Responder:  netip.MustParseAddr("192.0.2.1"),
		Addr:       netip.MustParseAddrPort("198.51.100.7:443"),
		Source:     netip.MustParseAddr("203.0.113.5"),
		IPProtocol: 4,
		ICMP:       &verdict.ICMP{Type: 3, Code: 13, Offender: netip.MustParseAddr("192.0.2.1")},
		Err:        errors.New("connecting to 198.51.100.7 port 443: no route to host"),
		Phases: []prober.PhaseDuration{{Phase: prober.PhaseResolve}, {Phase: prober.PhaseConnect, Duration: 3 * time.Millisecond},
			{Phase: prober.PhaseHold}},
		Duration:     3 * time.Millisecond,
		Banner:       "banner",
		ExpectLabels: []prober.ExpectLabel{{Name: "version", Value: "9.2"}},
		Transcript:   []prober.Line{{Text: "Trying 198.51.100.7 port 443..."}},
		Hops: []prober.Hop{
			{TTL: 1, Addr: netip.MustParseAddr("192.0.2.1"), RTT: time.Millisecond, Reason: verdict.TimeExceeded,
				ICMP: &verdict.ICMP{Type: 11, Offender: netip.MustParseAddr("192.0.2.1")}},
			{TTL: 2, Addr: netip.MustParseAddr("192.0.2.1"), RTT: time.Millisecond, Reason: verdict.AdminProhibited,
				ICMP: &verdict.ICMP{Type: 3, Code: 13, Offender: netip.MustParseAddr("192.0.2.1")}},
		},
		Addresses: []prober.AddressResult{{Addr: netip.MustParseAddrPort("198.51.100.7:443"), Class: verdict.Firewall,
			Reason: verdict.AdminProhibited, Responder: netip.MustParseAddr("192.0.2.1"), Duration: 3 * time.Millisecond,
			Err: errors.New("connecting to 198.51.100.7 port 443: no route to host")}},
		Host: &prober.HostCheck{Tried: true, Up: true, HostHops: 2, ResetHops: 2, HostPort: 22, Note: "note",
			Skipped: prober.TraceOverBudget, Err: errors.New("skipped"),
			Ports:      []prober.ControlAnswer{{Port: 22, Reason: verdict.SynAck, From: netip.MustParseAddr("198.51.100.7"), Host: true}},
			ResetTrace: []prober.Hop{{TTL: 1, Addr: netip.MustParseAddr("192.0.2.1"), Reason: verdict.TimeExceeded, ICMP: &verdict.ICMP{Type: 11, Offender: netip.MustParseAddr("192.0.2.1")}}},
			HostTrace:  []prober.Hop{{TTL: 1}}},
	}
	r.Expectation = verdict.AliasExpectation(verdict.AliasBlocked)
	r.Expected = true
	p := &plan{moduleName: "tcp", targets: []plannedTarget{{text: "198.51.100.7:443", moduleName: "tcp"}}, baseline: &jsonReport{}}
	held := true
	changes := []change{{target: "198.51.100.7:443", module: "tcp", before: "connected", after: "firewall", expectation: "firewall,unreachable", expected: &held}}
	var b bytes.Buffer
	if err := writeJSON(&b, p, []prober.Result{r}, changes); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// keyPaths lists a JSON document's fields as "path type"; phases and
// expect_labels are maps, whose keys are data, not schema.
func keyPaths(t *testing.T, doc string) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if path != "" {
				out = append(out, path+" object")
			}
			if strings.HasSuffix(path, ".phases") || strings.HasSuffix(path, ".expect_labels") {
				for _, e := range v {
					walk(path+"{}", e)
					break
				}
				return
			}
			for k, e := range v {
				if path != "" {
					k = path + "." + k
				}
				walk(k, e)
			}
		case []any:
			out = append(out, path+" array")
			if len(v) > 0 {
				walk(path+"[]", v[0])
			}
		case string:
			out = append(out, path+" string")
		case float64:
			out = append(out, path+" number")
		case bool:
			out = append(out, path+" bool")
		case nil:
			out = append(out, path+" null")
		}
	}
	walk("", v)
	sort.Strings(out)
	return out
}

// TestJSONSchema guards the JSON field names and types: a field may be
// added (update the golden file and the package comment), never renamed or
// removed.
func TestJSONSchema(t *testing.T) {
	golden(t, "json_keys.golden", strings.Join(keyPaths(t, syntheticJSON(t)), "\n")+"\n")
}

func TestExitCodes(t *testing.T) {
	// Published codes: scripts depend on them; never change one.
	published := map[verdict.Class]int{
		verdict.Connected: 0, verdict.ClosedByPeer: 4, verdict.Refused: 5, verdict.Firewall: 6,
		verdict.Unreachable: 7, verdict.DNSError: 8, verdict.Error: 9,
	}
	reserved := map[int]string{1: "unused", ExitBadInput: "bad input", ExitExpectFailed: "expectation failed", ExitInterrupted: "interrupted"}
	seen := map[int]verdict.Class{}
	for _, ci := range verdict.Classes {
		want, ok := published[ci.Class]
		if !ok {
			t.Errorf("class %s has no published exit code: add one to this test and the package comment", ci.Class)
		}
		if ci.ExitCode != want {
			t.Errorf("class %s exits %d, published %d", ci.Class, ci.ExitCode, want)
		}
		if what, ok := reserved[ci.ExitCode]; ok {
			t.Errorf("class %s uses exit code %d, which means %s", ci.Class, ci.ExitCode, what)
		}
		if other, ok := seen[ci.ExitCode]; ok {
			t.Errorf("classes %s and %s share exit code %d", other, ci.Class, ci.ExitCode)
		}
		seen[ci.ExitCode] = ci.Class
		if ci.ExitCode > 125 {
			t.Errorf("class %s exit code %d collides with the shell's signal codes", ci.Class, ci.ExitCode)
		}
		r := prober.Result{Class: ci.Class, Success: ci.Class == verdict.Connected}
		if got := ExitCode(&r); got != want {
			t.Errorf("ExitCode(%s) = %d, want %d", ci.Class, got, want)
		}
		if !strings.Contains(ExitStatusHelp(), fmt.Sprintf("%d %s", want, ci.Class)) && ci.Class != verdict.Connected {
			t.Errorf("--help does not list %d %s: %s", want, ci.Class, ExitStatusHelp())
		}
	}
	failed := prober.Result{Class: verdict.Connected, Failure: "query_response[0]: expected"}
	if got := ExitCode(&failed); got != ExitExpectFailed {
		t.Errorf("connected but failed: %d, want %d", got, ExitExpectFailed)
	}
	unknown := prober.Result{Class: "martian"}
	if got := ExitCode(&unknown); got != verdict.Error.Info().ExitCode {
		t.Errorf("unknown class: %d, want error's code", got)
	}
	several := []prober.Result{
		{Class: verdict.Connected, Success: true}, {Class: verdict.DNSError}, {Class: verdict.Refused}, failed,
	}
	if got := ExitStatus(several); got != 8 {
		t.Errorf("several: %d, want 8 (dns_error, the highest)", got)
	}
	if got := ExitStatus([]prober.Result{{Class: verdict.Connected, Success: true}}); got != 0 {
		t.Errorf("all connected: %d, want 0", got)
	}
}

// TestExpectationFailed: connected, but the module's expect never matched.
func TestExpectationFailed(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	r := runCheck(t, Options{Targets: []string{l.silent()}, Module: "ssh_banner", Timeout: 300 * time.Millisecond})
	if r.code != ExitExpectFailed {
		t.Errorf("exit status %d, want %d\n%s", r.code, ExitExpectFailed, r.stdout)
	}
	if !strings.Contains(r.stdout, "verdict   connected") || !strings.Contains(r.stdout, "failed ") {
		t.Errorf("output does not show a connected probe that failed:\n%s", r.stdout)
	}
}

// TestBadInput: one line on stderr, exit 2, nothing probed.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	badYAML := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(badYAML, []byte("modules:\n  tcp:\n    prober: tcp\n    tpc: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	unreadable := filepath.Join(dir, "missing.yml")
	cases := []struct {
		name string
		o    Options
		want string // in the error line
	}{
		{"no target", Options{}, "no target"},
		{"empty target", Options{Targets: []string{""}}, "empty"},
		{"no port", Options{Targets: []string{"127.0.0.1"}}, "has no port"},
		{"bad port", Options{Targets: []string{"127.0.0.1:99999"}}, "not a number from 1 to 65535"},
		{"scheme", Options{Targets: []string{"http://127.0.0.1:80"}}, "without a scheme"},
		{"one bad among good", Options{Targets: []string{"127.0.0.1:1", "localhost"}}, `"localhost" has no port`},
		{"unknown module", Options{Targets: []string{"127.0.0.1:1"}, Module: "nope"}, `unknown module "nope"`},
		{"unreadable config", Options{Targets: []string{"127.0.0.1:1"}, ConfigFile: unreadable}, "no such file"},
		{"invalid config", Options{Targets: []string{"127.0.0.1:1"}, ConfigFile: badYAML}, "tpc"},
		{"bad output", Options{Targets: []string{"127.0.0.1:1"}, Output: "yaml"}, "--output"},
		{"negative timeout", Options{Targets: []string{"127.0.0.1:1"}, Timeout: -time.Second}, "--timeout"},
		// Issue 18, item 7: a timeout no probe can use said firewall/no-response (exit 6).
		{"timeout below what a probe can use", Options{Targets: []string{"127.0.0.1:1"}, Timeout: time.Nanosecond}, "--timeout 1ns is below 10ms, the least a probe can use"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runCheck(t, c.o)
			if r.code != ExitBadInput {
				t.Errorf("exit status %d, want %d", r.code, ExitBadInput)
			}
			if r.stdout != "" {
				t.Errorf("something was probed or printed: %q", r.stdout)
			}
			if strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") ||
				!strings.HasPrefix(r.stderr, errPrefix) || !strings.Contains(r.stderr, c.want) {
				t.Errorf("stderr %q: want one line starting %q containing %q", r.stderr, errPrefix, c.want)
			}
		})
	}
}

// TestUnknownModuleListsModules: the error names the modules there are.
func TestUnknownModuleListsModules(t *testing.T) {
	r := runCheck(t, Options{Targets: []string{"127.0.0.1:1"}, Module: "tpc"})
	if !strings.Contains(r.stderr, "tcp_connect") {
		t.Errorf("stderr %q does not list the modules", r.stderr)
	}
}

// TestInterrupted: a cancelled run says so and exits 130 without verdicts,
// which a cut-short probe would get wrong.
func TestInterrupted(t *testing.T) {
	l := newLab(t)
	for _, output := range []string{OutputText, OutputJSON} {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var stdout, stderr bytes.Buffer
		code := Run(ctx, Options{Targets: []string{l.silent()}, ConfigFile: configFile, Output: output,
			Stdout: &stdout, Stderr: &stderr})
		if code != ExitInterrupted || !strings.Contains(stderr.String(), "interrupted") {
			t.Errorf("%s: exit status %d, stderr %q; want %d, interrupted", output, code, stderr.String(), ExitInterrupted)
		}
		if strings.Contains(stdout.String(), "verdict") {
			t.Errorf("%s: a verdict was printed for a cut-short probe: %q", output, stdout.String())
		}
	}
}

type brokenPipe struct{}

func (brokenPipe) Write([]byte) (int, error) { return 0, syscall.EPIPE }

// A report that cannot be written is said on stderr; the exit status stays
// the verdict's.
func TestBrokenStdout(t *testing.T) {
	l := newLab(t)
	var stderr bytes.Buffer
	code := Run(context.Background(), Options{Targets: []string{l.refused()}, ConfigFile: configFile,
		Stdout: brokenPipe{}, Stderr: &stderr})
	if code != verdict.Refused.Info().ExitCode {
		t.Errorf("exit %d, want refused's %d", code, verdict.Refused.Info().ExitCode)
	}
	if want := errPrefix + "writing the report: " + syscall.EPIPE.Error() + "\n"; stderr.String() != want {
		t.Errorf("stderr %q, want %q", stderr.String(), want)
	}
}
