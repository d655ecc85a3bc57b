//go:build linux

// Command burst measures a burst of N concurrent probes of a silently dropped
// target beside its baseline in the same run (issue 9; docs/performance.md, "A
// burst of probes in flight"): a bare net/http server whose handler sleeps as
// long as the probe's timeout. For each N it reports the p50/p99/max latency and
// the peak RSS (VmHWM) of each server, and their ratios.
//
// It builds its own network: a namespace holding the exporter, the
// baseline and the load generator, joined by a veth pair to a namespace
// whose nftables input chain drops every TCP SYN to the target's port. No
// packet leaves the two namespaces; both are removed, and every process
// started is stopped by its PID, on exit. It needs root, ip, nft and
// prlimit.
//
//	go build -o /tmp/exporter . && go run ./bench/burst -exporter /tmp/exporter
//	go run ./bench/burst -exporter /tmp/exporter -n 1000,5000 -timeout 5s -rounds 1
//
// The same binary is the generator and the baseline server when run with
// -role (by itself, inside the namespace).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/exporterproc"
)

const (
	clientAddr = "10.251.0.1"
	targetAddr = "10.251.0.2"
	targetPort = 9 // dropped in the target namespace
	listenPort = 9765
)

// nofile is the RLIMIT_NOFILE of the servers and the generator: the hard
// limit this process has (raising it takes a privilege a container may
// lack). 5,000 probes in flight need some 10,000 descriptors.
var nofile = func() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 1024
	}
	return rl.Max
}()

func main() {
	role := flag.String("role", "", "internal: generate or baseline (run inside the namespace)")
	exporter := flag.String("exporter", "", "the exporter binary to measure (go build -o … .)")
	ns := flag.String("n", "1000,5000", "burst sizes, comma-separated")
	timeout := flag.Duration("timeout", 5*time.Second, "probe timeout (and the baseline's sleep)")
	rounds := flag.Int("rounds", 1, "rounds per size; each starts fresh servers, so the peak RSS is the burst's")
	extra := flag.String("exporter-flags", "--probe.trace-max-sockets=64", "more flags for the exporter, space-separated; the default leaves the derived --probe.max-in-flight room for the largest burst (the module traces nothing)")
	url := flag.String("url", "", "internal: the URL the generator fires at")
	count := flag.Int("count", 0, "internal: the generator's number of requests")
	flag.Parse()

	switch *role {
	case "generate":
		os.Exit(generate(*url, *count, *timeout))
	case "baseline":
		os.Exit(baseline(*timeout))
	case "":
	default:
		fatal(fmt.Errorf("unknown -role %q", *role))
	}
	if *exporter == "" {
		fatal(errors.New("-exporter is required: go build -o /tmp/exporter . first"))
	}
	var sizes []int
	for _, s := range strings.Split(*ns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 20000 {
			fatal(fmt.Errorf("-n %q: sizes from 1 to 20000", *ns))
		}
		sizes = append(sizes, n)
	}
	b, err := setup()
	if err != nil {
		b.teardown()
		fatal(err)
	}
	code := b.run(*exporter, strings.Fields(*extra), sizes, *rounds, *timeout)
	b.teardown()
	os.Exit(code)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "burst:", err)
	os.Exit(2)
}

// bench is the run's network and scratch folder.
type bench struct {
	client, target string // namespace names
	dir            string
	undo           []func()
}

func sh(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

func setup() (*bench, error) {
	pid := os.Getpid()
	b := &bench{client: fmt.Sprintf("tveburst%d-c", pid), target: fmt.Sprintf("tveburst%d-t", pid)}
	dir, err := os.MkdirTemp("", "tve-burst-")
	if err != nil {
		return b, err
	}
	b.dir = dir
	b.undo = append(b.undo, func() { _ = os.RemoveAll(dir) })
	for _, ns := range []string{b.client, b.target} {
		if err := sh("ip", "netns", "add", ns); err != nil {
			return b, err
		}
		b.undo = append(b.undo, func() { _ = sh("ip", "netns", "del", ns) })
	}
	steps := [][]string{
		{"-n", b.client, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1", "netns", b.target},
		{"-n", b.client, "link", "set", "lo", "up"},
		{"-n", b.client, "link", "set", "veth0", "up"},
		{"-n", b.client, "addr", "add", clientAddr + "/24", "dev", "veth0"},
		{"-n", b.target, "link", "set", "lo", "up"},
		{"-n", b.target, "link", "set", "veth1", "up"},
		{"-n", b.target, "addr", "add", targetAddr + "/24", "dev", "veth1"},
	}
	for _, s := range steps {
		if err := sh("ip", s...); err != nil {
			return b, err
		}
	}
	rules := filepath.Join(dir, "rules.nft")
	ruleset := fmt.Sprintf("table inet tveburst {\n  chain input {\n    type filter hook input priority 0; policy accept;\n    tcp dport %d drop\n  }\n}\n", targetPort)
	if err := os.WriteFile(rules, []byte(ruleset), 0o644); err != nil {
		return b, err
	}
	if err := sh("ip", "netns", "exec", b.target, "nft", "-f", rules); err != nil {
		return b, err
	}
	// Many connections at once in the client namespace: a deep accept
	// queue and a wide ephemeral range.
	for _, kv := range [][2]string{{"net.core.somaxconn", "65535"}, {"net.ipv4.ip_local_port_range", "10000 65000"}} {
		if err := sh("ip", "netns", "exec", b.client, "sysctl", "-qw", kv[0]+"="+kv[1]); err != nil {
			return b, err
		}
	}
	return b, nil
}

func (b *bench) teardown() {
	for i := len(b.undo) - 1; i >= 0; i-- {
		b.undo[i]()
	}
}

// proc is a server started in the client namespace.
type proc struct {
	cmd *exec.Cmd
	out *exporterproc.Log
}

func (b *bench) start(args ...string) (*proc, error) {
	full := append([]string{"netns", "exec", b.client, "prlimit", fmt.Sprintf("--nofile=%d:%d", nofile, nofile)}, args...)
	cmd := exec.Command("ip", full...)
	out := &exporterproc.Log{} // one writer for both: exec then writes from one goroutine at a time
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd, out}
	// ip netns exec and prlimit exec the program: cmd.Process.Pid is its PID.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if err := sh("ip", "netns", "exec", b.client, "bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/127.0.0.1/%d", listenPort)); err == nil {
			return p, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.stop()
	return nil, fmt.Errorf("%s did not listen on %d: %s", args[0], listenPort, out)
}

// peakRSS is the process's VmHWM, in MB.
func (p *proc) peakRSS() float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	defer f.Close() //nolint:errcheck // read-only
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// result is one server's figures for one burst.
type result struct {
	p50, p99, max time.Duration
	ok, other     int
	rssMB         float64
}

func (b *bench) burst(server []string, url string, n int, timeout time.Duration) (result, error) {
	p, err := b.start(server...)
	if err != nil {
		return result{}, err
	}
	defer p.stop()
	self, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	out, err := exec.Command("ip", "netns", "exec", b.client, "prlimit", fmt.Sprintf("--nofile=%d:%d", nofile, nofile),
		self, "-role", "generate", "-url", url, "-count", strconv.Itoa(n), "-timeout", timeout.String()).Output()
	if err != nil {
		return result{}, fmt.Errorf("generator: %w: %s", err, out)
	}
	var r result
	var p50, p99, mx float64
	if _, err := fmt.Sscanf(string(out), "p50=%g p99=%g max=%g ok=%d other=%d", &p50, &p99, &mx, &r.ok, &r.other); err != nil {
		return result{}, fmt.Errorf("generator said %q: %w", out, err)
	}
	r.p50, r.p99, r.max = secs(p50), secs(p99), secs(mx)
	r.rssMB = p.peakRSS()
	return r, nil
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func (b *bench) run(exporter string, extra []string, sizes []int, rounds int, timeout time.Duration) int {
	config := filepath.Join(b.dir, "config.yml")
	module := fmt.Sprintf("modules:\n  drop:\n    prober: tcp\n    timeout: %s\n    tcp: {preferred_ip_protocol: ip4, hold: 0s}\n", timeout)
	if err := os.WriteFile(config, []byte(module), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	listen := fmt.Sprintf("127.0.0.1:%d", listenPort)
	expArgs := append([]string{exporter, "--config.file=" + config, "--web.listen-address=" + listen}, extra...)
	baseArgs := []string{self, "-role", "baseline", "-timeout", timeout.String()}
	probeURL := fmt.Sprintf("http://%s/probe?module=drop&target=%s:%d", listen, targetAddr, targetPort)
	baseURL := fmt.Sprintf("http://%s/sleep", listen)
	fmt.Printf("burst of N concurrent requests; exporter: probes of %s:%d (SYNs dropped), timeout %s; baseline: net/http handler sleeping %s\n",
		targetAddr, targetPort, timeout, timeout)
	fmt.Printf("RLIMIT_NOFILE %d for the servers and the generator\n", nofile)
	fmt.Printf("%6s %-9s %8s %8s %8s %7s %6s %9s\n", "N", "server", "p50", "p99", "max", "200s", "other", "peak RSS")
	failed := false
	for _, n := range sizes {
		for range rounds {
			// The baseline first, then the exporter, fresh each: VmHWM is
			// the burst's peak.
			base, err := b.burst(baseArgs, baseURL, n, timeout)
			if err != nil {
				fmt.Fprintln(os.Stderr, "baseline:", err)
				return 1
			}
			exp, err := b.burst(expArgs, probeURL, n, timeout)
			if err != nil {
				fmt.Fprintln(os.Stderr, "exporter:", err)
				return 1
			}
			for _, row := range []struct {
				name string
				r    result
			}{{"baseline", base}, {"exporter", exp}} {
				fmt.Printf("%6d %-9s %8s %8s %8s %7d %6d %6.1f MB\n", n, row.name, row.r.p50.Round(time.Millisecond),
					row.r.p99.Round(time.Millisecond), row.r.max.Round(time.Millisecond), row.r.ok, row.r.other, row.r.rssMB)
			}
			rss := exp.rssMB / base.rssMB
			dp99 := exp.p99 - base.p99
			okRSS, okP99 := rss <= 1.15, dp99 <= 100*time.Millisecond
			fmt.Printf("%6d ratio     RSS x%.2f (target <= 1.15: %s), p99 %+dms (target <= +100ms: %s)\n", n, rss, pass(okRSS),
				dp99.Milliseconds(), pass(okP99))
			failed = failed || !okRSS || !okP99 || exp.other > 0 || base.other > 0
		}
	}
	if failed && os.Getenv("STRICT") == "1" {
		return 1
	}
	return 0
}

func pass(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// generate fires count concurrent GETs at url, each on its own
// connection, and prints the latency quantiles and the answers.
func generate(url string, count int, timeout time.Duration) int {
	client := &http.Client{Timeout: timeout + 30*time.Second, Transport: &http.Transport{
		DisableKeepAlives: true, Proxy: nil, MaxConnsPerHost: 0,
		DialContext: (&net.Dialer{Timeout: 30 * time.Second}).DialContext,
	}}
	lat := make([]time.Duration, count)
	codes := make([]int, count)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range count {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			t0 := time.Now()
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
			// As Prometheus asks: more than the module's timeout.
			req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", strconv.Itoa(int(timeout.Seconds())+5))
			resp, err := client.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				codes[i] = resp.StatusCode
			}
			lat[i] = time.Since(t0)
		}()
	}
	close(start)
	wg.Wait()
	ok := 0
	for _, c := range codes {
		if c == http.StatusOK {
			ok++
		}
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))].Seconds() }
	fmt.Printf("p50=%g p99=%g max=%g ok=%d other=%d\n", q(0.50), q(0.99), lat[len(lat)-1].Seconds(), ok, count-ok)
	return 0
}

// baseline serves /sleep: it waits timeout, then answers, as a probe of a
// dropped target does. It stops on SIGTERM.
func baseline(timeout time.Duration) int {
	srv := &http.Server{Addr: fmt.Sprintf("127.0.0.1:%d", listenPort), ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(timeout):
			case <-r.Context().Done():
			}
			_, _ = io.WriteString(w, "slept\n")
		})}
	go func() {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
		<-stop
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
