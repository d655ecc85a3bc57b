package handler

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tcp-verdict/tcp_verdict_exporter/collector"
	"github.com/tcp-verdict/tcp_verdict_exporter/config"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/budget"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
)

func TestDeriveLimits(t *testing.T) {
	for _, tc := range []struct {
		nofile, inFlight, traces, conns int
		want                            Limits
	}{
		// 256: 224 after the reserve, 56 for traces, 28 for draining
		// sessions, (224-56-28-16)/3 = 41.
		{256, 0, 0, 0, Limits{MaxInFlight: 41, TraceSockets: 56, Draining: 28, MaxConnections: 57, NofileLimit: 256, DerivedInFlight: true}},
		{1024, 0, 0, 0, Limits{MaxInFlight: 201, TraceSockets: 248, Draining: 124, MaxConnections: 217, NofileLimit: 1024, DerivedInFlight: true}},
		// Below the reserve one probe still runs: its verdict is then the
		// exporter's own error, which is the truth.
		{10, 0, 0, 0, Limits{MaxInFlight: 1, TraceSockets: 0, MaxConnections: 17, NofileLimit: 10, DerivedInFlight: true}},
		// Flags win; the connections follow the probes.
		{256, 10, 20, 0, Limits{MaxInFlight: 10, TraceSockets: 20, Draining: 28, MaxConnections: 26, NofileLimit: 256}},
		{256, 10, 20, 100, Limits{MaxInFlight: 10, TraceSockets: 20, Draining: 28, MaxConnections: 100, NofileLimit: 256}},
		// Unknown or unlimited: counted as 2^20; the drains keep their own
		// bound.
		{0, 0, 0, 0, Limits{MaxInFlight: 262045, TraceSockets: 262136, Draining: 256, MaxConnections: 262061, DerivedInFlight: true}},
	} {
		t.Run(fmt.Sprint(tc.nofile, tc.inFlight, tc.traces, tc.conns), func(t *testing.T) {
			got := DeriveLimits(tc.nofile, tc.inFlight, tc.traces, tc.conns)
			if got != tc.want {
				t.Errorf("DeriveLimits = %+v, want %+v", got, tc.want)
			}
			if tc.inFlight == 0 && tc.traces == 0 && tc.conns == 0 && tc.nofile > reservedFiles+spareConns+filesPerSlot {
				// The accounting closes: what the limits may hold fits.
				held := reservedFiles + got.TraceSockets + got.Draining + got.MaxConnections + (filesPerSlot-1)*got.MaxInFlight
				if held > tc.nofile {
					t.Errorf("limits may hold %d descriptors, more than RLIMIT_NOFILE %d", held, tc.nofile)
				}
			}
		})
	}
}

func TestSlots(t *testing.T) {
	for _, tc := range []struct {
		addresses string
		max, want int
	}{
		{config.AddressesFirst, 8, 1},
		{config.AddressesAll, 1, 1},
		{config.AddressesAll, 2, 1},
		{config.AddressesAll, 3, 2},
		{config.AddressesAll, 8, 4},
		{config.AddressesAll, 64, 32},
	} {
		m := config.DefaultModule
		m.TCP.Addresses, m.TCP.MaxAddresses = tc.addresses, tc.max
		if got := slots(&m); got != tc.want {
			t.Errorf("slots(addresses %s, max_addresses %d) = %d, want %d", tc.addresses, tc.max, got, tc.want)
		}
	}
	// tcp.attempts counts each attempt's socket: 1 is what a probe always
	// took, 8 the four slots of 8 addresses.
	for attempts, want := range map[int]int{1: 1, 2: 1, 3: 2, 8: 4, 16: 8} {
		m := config.DefaultModule
		m.TCP.Attempts = attempts
		if got := slots(&m); got != want {
			t.Errorf("slots(attempts %d) = %d, want %d", attempts, got, want)
		}
	}
}

// A probe that finds no free slot is answered 503 at once, with
// Retry-After, counted as overloaded, and never dials.
func TestProbeOverloaded(t *testing.T) {
	h, _ := newProbe(t)
	reg := prometheus.NewRegistry()
	h.Exporter = collector.NewExporter(reg, h.Store)
	h.Slots = budget.New(1)
	target := testnet.Serve(t, "tcp4", "127.0.0.1:0", testnet.KeepOpen) // the probe holds 50ms
	first := make(chan int)
	go func() { first <- get(t, h, "target="+target, nil).Code }()
	deadline := time.Now().Add(2 * time.Second)
	for h.Slots.InUse() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	rec := get(t, h, "target="+target, nil)
	if took := time.Since(start); took > 20*time.Millisecond {
		t.Errorf("the 503 took %s; it must not wait for the slot", took)
	}
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "overloaded") {
		t.Errorf("second probe: %d %q, Retry-After %q; want 503 overloaded with Retry-After", rec.Code, rec.Body.String(), rec.Header().Get("Retry-After"))
	}
	if code := <-first; code != http.StatusOK {
		t.Errorf("first probe: %d, want 200", code)
	}
	if h.Slots.InUse() != 0 {
		t.Errorf("%d slots still taken after both requests", h.Slots.InUse())
	}
	if got := gathered(t, reg, "tcp_verdict_exporter_probes_rejected_total", "reason", "overloaded"); got != 1 {
		t.Errorf("probes_rejected_total{reason=overloaded} = %v, want 1", got)
	}
	if got := gathered(t, reg, "tcp_verdict_exporter_probes_in_flight", "", ""); got != 0 {
		t.Errorf("probes_in_flight = %v after the probes, want 0", got)
	}
}

func TestDebugDisabled(t *testing.T) {
	h, _ := newProbe(t)
	h.DisableDebug = true
	target := testnet.Serve(t, "tcp4", "127.0.0.1:0", testnet.KeepOpen)
	rec := get(t, h, "target="+target+"&debug=true", nil)
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "--web.disable-debug") {
		t.Errorf("debug=true: %d %q, want 403 naming --web.disable-debug", rec.Code, rec.Body.String())
	}
	if rec := get(t, h, "target="+target+"&debug=false", nil); rec.Code != http.StatusOK {
		t.Errorf("debug=false: %d %q, want 200", rec.Code, rec.Body.String())
	}
	// The status page's transcripts show the banner: refused too.
	tr := &Transcript{History: h.History, Disabled: true}
	req := httptest.NewRequest(http.MethodGet, "/transcript?id=1", nil)
	rec = httptest.NewRecorder()
	tr.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("/transcript with debug disabled: %d %q, want 403", rec.Code, rec.Body.String())
	}
}

// A peer that streams lines through the hold: the debug answer stays
// under maxDebugBytes and says what it left out.
func TestDebugCapped(t *testing.T) {
	h, _ := newProbe(t)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) }) // the streamer must not eat the next tests' CPU
	target := testnet.Serve(t, "tcp4", "127.0.0.1:0", func(c *net.TCPConn) {
		line := []byte(strings.Repeat("x", 100) + "\n")
		_ = c.SetWriteDeadline(time.Now().Add(2 * time.Second))
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := c.Write(line); err != nil {
				return
			}
		}
	})
	rec := get(t, h, "target="+target+"&debug=true", nil)
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != http.StatusOK {
		t.Fatalf("%d %q", rec.Code, body)
	}
	if len(body) > maxDebugBytes {
		t.Errorf("debug answer of %d bytes, over %d", len(body), maxDebugBytes)
	}
	if !strings.Contains(string(body), "more bytes received, not shown") {
		t.Errorf("the answer does not say that it left data out:\n%s", tail(string(body), 2000))
	}
	if !strings.Contains(string(body), "tcp_verdict{") {
		t.Errorf("the metrics are missing from the capped answer:\n%s", tail(string(body), 2000))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// gathered is the value of the series of name whose label has value (any
// series when label is empty); it fails the test when there is none.
func gathered(t *testing.T, g prometheus.Gatherer, name, label, value string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			ok := label == ""
			for _, l := range m.GetLabel() {
				ok = ok || l.GetName() == label && l.GetValue() == value
			}
			if !ok {
				continue
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no series %s{%s=%q}", name, label, value)
	return 0
}
