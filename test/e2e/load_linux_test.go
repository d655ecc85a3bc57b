//go:build linux

package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/sys/unix"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/netlab"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// The load tests (docs/security.md, "Load limits, HTTP hardening and debug"):
// each attack of issue 9 against an exporter in the client namespace, shown
// failing.

// smallNofile is the RLIMIT_NOFILE of the load tests' exporters. The
// exporter derives from it 41 probe slots, 56 trace sockets and 57 HTTP
// connections (limits.Derive, whose table test pins the figures).
const (
	smallNofile     = 256
	smallSlots      = 41
	smallTraceSocks = 56
	smallConns      = 57
)

func (l *lab) testLoad(t *testing.T) {
	t.Run("shedding", l.testShedding)
	t.Run("trace-storm", l.testTraceStorm)
	t.Run("idle-and-slow-clients", l.testIdleClients)
	t.Run("debug-cap", l.testDebugCap)
	t.Run("soak", l.testSoak)
}

// nsDialer dials from a few OS threads that have joined a namespace, for
// clients that open hundreds of connections (inNS spends a thread on each).
type nsDialer struct {
	reqs chan nsDial
}

type nsDial struct {
	ctx   context.Context
	addr  string
	reply chan nsDialed
}

type nsDialed struct {
	c   net.Conn
	err error
}

func newNSDialer(t *testing.T, ns string, threads int) *nsDialer {
	t.Helper()
	d := &nsDialer{reqs: make(chan nsDial)}
	ready := make(chan error, threads)
	for range threads {
		go func() {
			runtime.LockOSThread() // never unlocked: the thread leaves with its namespace
			fd, err := unix.Open(netlab.NetnsPath(ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err == nil {
				err = unix.Setns(fd, unix.CLONE_NEWNET)
				_ = unix.Close(fd) // read-only; Setns's error is the one that matters
			}
			ready <- err
			if err != nil {
				return
			}
			var dialer net.Dialer
			for r := range d.reqs {
				c, err := dialer.DialContext(r.ctx, "tcp", r.addr)
				r.reply <- nsDialed{c, err}
			}
		}()
	}
	for range threads {
		if err := <-ready; err != nil {
			close(d.reqs)
			t.Fatalf("joining %s: %v", ns, err)
		}
	}
	t.Cleanup(func() { close(d.reqs) })
	return d
}

func (d *nsDialer) DialContext(ctx context.Context, _, addr string) (net.Conn, error) {
	r := nsDial{ctx, addr, make(chan nsDialed, 1)}
	select {
	case d.reqs <- r:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	got := <-r.reply
	return got.c, got.err
}

// client is an HTTP client through d, one connection per request.
func (d *nsDialer) client() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true, Proxy: nil, DialContext: d.DialContext,
	}}
}

// answer is one /probe request's outcome as the load tests see it.
type answer struct {
	status     int
	retryAfter string
	took       time.Duration
	class      string
	traceRan   bool   // the answer has the trace's series
	traceSkip  string // tcp_trace_skipped's reason
	reason     string // tcp_verdict_info's
	hostUp     bool   // the answer has tcp_host_up (a host check ran)
	hostSkip   string // tcp_host_check_skipped's reason
	err        error
}

func fetchAnswer(c *http.Client, base, target, module string) answer {
	q := url.Values{"target": {target}, "module": {module}}
	start := time.Now()
	resp, err := c.Get(base + "/probe?" + q.Encode())
	if err != nil {
		return answer{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close() //nolint:errcheck // read to the end below
	body, err := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), took: time.Since(start), err: err}
	if err != nil || resp.StatusCode != http.StatusOK {
		return a
	}
	mfs, err := parseMetrics(string(body))
	if err != nil {
		a.err = err
		return a
	}
	for _, m := range mfs["tcp_verdict_info"].GetMetric() {
		a.class, a.reason = labelValue(m, "class"), labelValue(m, "reason")
	}
	a.hostUp = mfs["tcp_host_up"] != nil
	for _, m := range mfs["tcp_host_check_skipped"].GetMetric() {
		a.hostSkip = labelValue(m, "reason")
	}
	a.traceRan = mfs["tcp_trace_hops_answered"] != nil
	for _, m := range mfs["tcp_trace_skipped"].GetMetric() {
		a.traceSkip = labelValue(m, "reason")
	}
	return a
}

func parseMetrics(text string) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(strings.NewReader(text))
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// metricSum sums the series of name whose labels include want.
func metricSum(mfs map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	var sum float64
	for _, m := range mfs[name].GetMetric() {
		ok := true
		for k, v := range want {
			ok = ok && labelValue(m, k) == v
		}
		if !ok {
			continue
		}
		if c := m.GetCounter(); c != nil {
			sum += c.GetValue()
		} else {
			sum += m.GetGauge().GetValue()
		}
	}
	return sum
}

// scrape reads the exporter's own /metrics.
func (e *exporter) scrape(c *http.Client) (map[string]*dto.MetricFamily, error) {
	resp, err := c.Get("http://" + e.addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close() //nolint:errcheck // read to the end below
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: HTTP %s", resp.Status)
	}
	return parseMetrics(string(body))
}

// usage is what the exporter process holds: descriptors, RSS, and (from
// its /metrics) goroutines.
type usage struct {
	fds, goroutines int
	rssKB           int64
}

func (e *exporter) usage(c *http.Client) (usage, error) {
	var u usage
	files, err := e.openFiles()
	if err != nil {
		return u, err
	}
	u.fds = len(files)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", e.Cmd.Process.Pid))
	if err != nil {
		return u, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			u.rssKB, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	mfs, err := e.scrape(c)
	if err != nil {
		return u, err
	}
	u.goroutines = int(metricSum(mfs, "go_goroutines", nil))
	return u, nil
}

// peakFiles samples the process's open descriptors every 5 ms until stop
// is closed, and sends the largest count seen.
func (e *exporter) peakFiles(stop <-chan struct{}) <-chan int {
	out := make(chan int, 1)
	dir := fmt.Sprintf("/proc/%d/fd", e.Cmd.Process.Pid)
	go func() {
		peak := 0
		for {
			if ents, err := os.ReadDir(dir); err == nil {
				peak = max(peak, len(ents))
			}
			select {
			case <-stop:
				out <- peak
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return out
}

// fire sends n concurrent probes of target and returns their answers.
func fire(c *http.Client, base string, n int, target, module string) []answer {
	answers := make([]answer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = fetchAnswer(c, base, target, module)
		}()
	}
	wg.Wait()
	return answers
}

// Under RLIMIT_NOFILE 256, 400 concurrent probes of a dropped target get
// only firewall verdicts and fast 503s, never the exporter's own error
// (issue 9: 158 local-error verdicts before the limit), and /metrics still
// answers afterwards.
func (l *lab) testShedding(t *testing.T) {
	e, err := startExporter(l.client, l.bin, l.config, "127.0.0.1:9771", smallNofile)
	if err != nil {
		t.Fatal(err)
	}
	defer e.stop() //nolint:errcheck // stop reports nothing; the lab's teardown would stop it too
	d := newNSDialer(t, l.client, 4)
	c := d.client()
	const n = 400
	target := at(theTarget, portDropServer)(ipv4)
	stop := make(chan struct{})
	peak := e.peakFiles(stop)
	answers := fire(c, "http://"+e.addr, n, target, "v4")
	close(stop)
	var ok, shed int
	var slowestShed time.Duration
	for i, a := range answers {
		switch {
		case a.err != nil:
			t.Errorf("probe %d: %v", i, a.err)
		case a.status == http.StatusOK:
			ok++
			if a.class != string(verdict.Firewall) {
				t.Errorf("probe %d: class %q, want firewall: a probe lost to the others' descriptors", i, a.class)
			}
		case a.status == http.StatusServiceUnavailable:
			shed++
			slowestShed = max(slowestShed, a.took)
			if a.retryAfter == "" {
				t.Errorf("probe %d: 503 without Retry-After", i)
			}
		default:
			t.Errorf("probe %d: HTTP %d", i, a.status)
		}
	}
	p := <-peak
	t.Logf("%d probes: %d firewall verdicts, %d answered 503 (slowest %s); peak %d descriptors of %d",
		n, ok, shed, slowestShed.Round(time.Millisecond), p, smallNofile)
	if ok == 0 || ok > smallSlots || shed == 0 {
		t.Errorf("%d verdicts and %d 503s: want 1 to %d verdicts and the rest 503", ok, shed, smallSlots)
	}
	// The probes time out after 2 s (module v4); a 503 must not wait for one.
	if slowestShed > time.Second {
		t.Errorf("slowest 503 took %s: a refused request waited for a probe to end", slowestShed)
	}
	if p >= smallNofile {
		t.Errorf("peak %d descriptors reached RLIMIT_NOFILE %d", p, smallNofile)
	}
	mfs, err := e.scrape(c)
	if err != nil {
		t.Fatalf("/metrics after the flood: %v", err)
	}
	if got := metricSum(mfs, "tcp_verdict_exporter_probes_rejected_total", map[string]string{"reason": "overloaded"}); got != float64(shed) {
		t.Errorf("probes_rejected_total{reason=overloaded} = %v, want %d", got, shed)
	}
	if got := metricSum(mfs, "tcp_verdict_exporter_probes_total", map[string]string{"class": string(verdict.Error)}); got != 0 {
		t.Errorf("probes_total{class=error} = %v, want 0", got)
	}
	if got := metricSum(mfs, "tcp_verdict_exporter_probes_in_flight", nil); got != 0 {
		t.Errorf("probes_in_flight = %v after the flood, want 0", got)
	}
}

// During an outage every traced probe fails at once: the traces share
// their socket budget, the ones that do not fit say so
// (tcp_trace_skipped{reason="over-budget"}), and every verdict is still
// firewall.
func (l *lab) testTraceStorm(t *testing.T) {
	e, err := startExporter(l.client, l.bin, l.config, "127.0.0.1:9772", smallNofile)
	if err != nil {
		t.Fatal(err)
	}
	defer e.stop() //nolint:errcheck // stop reports nothing; the lab's teardown would stop it too
	d := newNSDialer(t, l.client, 4)
	c := d.client()
	const n = 40 // within the probe slots: only the traces are short
	var peakTrace atomic.Int64
	stop := make(chan struct{})
	peak := e.peakFiles(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if mfs, err := e.scrape(c); err == nil {
				v := int64(metricSum(mfs, "tcp_verdict_exporter_trace_sockets_in_use", nil))
				for old := peakTrace.Load(); v > old && !peakTrace.CompareAndSwap(old, v); old = peakTrace.Load() {
				}
			}
		}
	}()
	answers := fire(c, "http://"+e.addr, n, at(theTarget, portDropR1)(ipv4), "v4_trace")
	close(stop)
	states := map[string]int{}
	for i, a := range answers {
		if a.err != nil || a.status != http.StatusOK {
			t.Errorf("probe %d: HTTP %d, %v", i, a.status, a.err)
			continue
		}
		if a.class != string(verdict.Firewall) {
			t.Errorf("probe %d: class %q, want firewall", i, a.class)
		}
		switch {
		case a.traceRan:
			states["ran"]++
		case a.traceSkip != "":
			states[a.traceSkip]++
		}
	}
	p := <-peak
	t.Logf("%d traced probes: trace states %v; trace sockets peaked at %d of %d; %d descriptors of %d",
		n, states, peakTrace.Load(), smallTraceSocks, p, smallNofile)
	if states["ran"] == 0 || states["over-budget"] == 0 || states["ran"]+states["over-budget"] != n {
		t.Errorf("trace states %v: want some ran, the rest over-budget", states)
	}
	if peakTrace.Load() > smallTraceSocks {
		t.Errorf("trace sockets peaked at %d, over the budget %d", peakTrace.Load(), smallTraceSocks)
	}
	if p >= smallNofile {
		t.Errorf("peak %d descriptors reached RLIMIT_NOFILE %d", p, smallNofile)
	}
}

// Idle keep-alive clients beyond the connection limit, and clients that
// send their headers slowly, do not lock out a probe or /metrics (issue 9:
// 248 idle connections blocked every request for 30 s); the slow ones are
// cut after the header timeout.
func (l *lab) testIdleClients(t *testing.T) {
	e, err := startExporter(l.client, l.bin, l.config, "127.0.0.1:9773", smallNofile)
	if err != nil {
		t.Fatal(err)
	}
	defer e.stop() //nolint:errcheck // stop reports nothing; the lab's teardown would stop it too
	d := newNSDialer(t, l.client, 2)
	ctx := context.Background()
	var held []net.Conn
	defer func() {
		for _, c := range held {
			_ = c.Close() // the server may have closed it
		}
	}()
	for range smallConns + 30 { // idle keep-alive: one request, then nothing
		c, err := d.DialContext(ctx, "tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprint(c, "GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n") //nolint:errcheck // the read below fails if it did
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("idle client %d: %v", len(held), err)
		}
		_ = resp.Body.Close()
	}
	var slow []net.Conn
	for range 30 { // a request line and half a header, then silence
		c, err := d.DialContext(ctx, "tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		slow = append(slow, c)
		fmt.Fprint(c, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ") //nolint:errcheck // the read below tells
	}
	c := d.client()
	start := time.Now()
	if a := fetchAnswer(c, "http://"+e.addr, at(theTarget, portSilent)(ipv4), "v4"); a.err != nil || a.class != string(verdict.Connected) {
		t.Errorf("probe behind idle and slow clients: HTTP %d %q, %v", a.status, a.class, a.err)
	}
	if _, err := e.scrape(c); err != nil {
		t.Errorf("/metrics behind idle and slow clients: %v", err)
	}
	took := time.Since(start)
	t.Logf("probe (300 ms hold) and /metrics behind %d idle and %d slow clients: %s", smallConns+30, len(slow), took.Round(time.Millisecond))
	if took > 3*time.Second {
		t.Errorf("probe and /metrics took %s behind idle clients", took)
	}
	// The slow clients are cut by the server's header timeout (5 s).
	deadline := time.Now().Add(8 * time.Second)
	for i, c := range slow {
		_ = c.SetReadDeadline(deadline)
		// EOF, or a reset: either way the server let go.
		if _, err := io.ReadAll(c); errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("slow client %d still connected after %s", i, time.Since(start).Round(time.Millisecond))
			break
		}
	}
}

// A peer that streams during the hold: the debug answer stays under 64 KB
// and says what it left out (issue 9: 2-4 MB per request before).
func (l *lab) testDebugCap(t *testing.T) {
	body := l.exporter.debugProbe(at(theTarget, portStream)(ipv4), "v4")
	t.Logf("debug answer of %d bytes; its end:\n%s", len(body), body[max(0, len(body)-600):])
	if len(body) > 64<<10 {
		t.Errorf("debug answer of %d bytes, over 64 KB", len(body))
	}
	if !strings.Contains(body, "more bytes received, not shown") {
		t.Errorf("the debug answer does not say that it left data out")
	}
	if !strings.Contains(body, `tcp_verdict{class="connected"} 1`) {
		t.Errorf("the debug answer lacks its metrics")
	}
}

// soakSeconds is the soak's length: TVE_SOAK_SECONDS, 20 by default (CI).
func soakSeconds(t *testing.T) int {
	if v := os.Getenv("TVE_SOAK_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("TVE_SOAK_SECONDS=%q is not a positive number of seconds", v)
		}
		return n
	}
	return 20
}

// A few hundred probes a second for a while, of targets that close, refuse
// and drop: every answer right, and afterwards the exporter's goroutines,
// descriptors and memory back to what they were after a warm-up.
func (l *lab) testSoak(t *testing.T) {
	e, err := startExporter(l.client, l.bin, l.config, "127.0.0.1:9774", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer e.stop() //nolint:errcheck // stop reports nothing; the lab's teardown would stop it too
	d := newNSDialer(t, l.client, 4)
	c := d.client()
	const rate = 300 // probes per second
	targets := []struct {
		target string
		class  verdict.Class
	}{
		{at(theTarget, portFIN)(ipv4), verdict.ClosedByPeer},
		{at(theTarget, portClosed)(ipv4), verdict.Refused},
		{at(theTarget, portDropServer)(ipv4), verdict.Firewall},
	}
	run := func(d time.Duration) (sent, bad int) {
		var wg sync.WaitGroup
		var failed atomic.Int64
		tick := time.NewTicker(time.Second / rate)
		defer tick.Stop()
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			<-tick.C
			tg := targets[sent%len(targets)]
			sent++
			wg.Add(1)
			go func() {
				defer wg.Done()
				a := fetchAnswer(c, "http://"+e.addr, tg.target, "v4")
				if a.err != nil || a.status != http.StatusOK || a.class != string(tg.class) {
					if failed.Add(1) <= 5 {
						t.Errorf("probe of %s: HTTP %d, class %q (want %s), %v", tg.target, a.status, a.class, tg.class, a.err)
					}
				}
			}()
		}
		wg.Wait()
		return sent, int(failed.Load())
	}
	settle := func() usage {
		time.Sleep(500 * time.Millisecond) // closing connections, TIME_WAIT in the client's kernel
		u, err := e.usage(c)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	run(5 * time.Second) // warm-up: the heap and the thread pool grow to their working size
	base := settle()
	secs := soakSeconds(t)
	start := time.Now()
	sent, bad := run(time.Duration(secs) * time.Second)
	took := time.Since(start)
	after := settle()
	// Goroutines and descriptors go back at once; wait a little for
	// stragglers (the runtime's own, a connection closing).
	for i := 0; i < 20 && (after.goroutines > base.goroutines+2 || after.fds > base.fds+2); i++ {
		after = settle()
	}
	t.Logf("soak: %d probes in %s (%.0f/s), %d wrong; before: %+v, after: %+v",
		sent, took.Round(time.Millisecond), float64(sent)/took.Seconds(), bad, base, after)
	if bad > 0 {
		t.Errorf("%d of %d probes answered wrong", bad, sent)
	}
	if after.goroutines > base.goroutines+2 {
		t.Errorf("goroutines: %d after the soak, %d before", after.goroutines, base.goroutines)
	}
	if after.fds > base.fds+2 {
		t.Errorf("descriptors: %d after the soak, %d before", after.fds, base.fds)
	}
	// Go keeps freed memory a while before giving it back; a leak grows
	// with the number of probes, far beyond this.
	if after.rssKB > base.rssKB*3/2+16<<10 {
		t.Errorf("RSS: %d kB after the soak, %d kB before", after.rssKB, base.rssKB)
	}
}
