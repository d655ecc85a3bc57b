package handler

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tcp-verdict/tcp_verdict_exporter/collector"
	"github.com/tcp-verdict/tcp_verdict_exporter/config"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
)

// A module whose own timeout and hold are far longer than any scrape in
// this test: only the scrape header can end the probe in time.
const longConfig = `modules:
  long:
    prober: tcp
    timeout: 30s
    tcp:
      preferred_ip_protocol: ip4
      hold: 20s
`

// The invariant: a probe never outlives the scrape, even when the scrape
// timeout is at or below --timeout-offset, against a silent peer (the
// session sits in its hold) and a dropped one (the SYN gets no answer).
func TestProbeAnswersWithinScrapeTimeout(t *testing.T) {
	path := t.TempDir() + "/config.yml"
	if err := os.WriteFile(path, []byte(longConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	store, err := config.NewStore(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &Probe{Store: store, Exporter: collector.NewExporter(prometheus.NewRegistry(), store),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), TimeoutOffset: 500 * time.Millisecond}
	targets := map[string]string{
		"silent":  testnet.Serve(t, "tcp4", "127.0.0.1:0", testnet.KeepOpen),
		"dropped": testnet.FullBacklog(t).String(),
	}
	for name, target := range targets {
		for _, header := range []string{"0.4", "0.5", "0.8"} { // below, at and above the offset
			t.Run(name+"/"+header, func(t *testing.T) {
				scrape, _ := time.ParseDuration(header + "s")
				start := time.Now()
				rec := get(t, h, "target="+target+"&module=long", http.Header{"X-Prometheus-Scrape-Timeout-Seconds": {header}})
				elapsed := time.Since(start)
				if rec.Code != http.StatusOK {
					t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
				}
				if !strings.Contains(rec.Body.String(), "probe_duration_seconds") {
					t.Fatalf("no metrics: %s", rec.Body.String())
				}
				if elapsed >= scrape {
					t.Errorf("answered after %s, scrape timeout %s: Prometheus would have given up", elapsed, scrape)
				}
				if want := scrapeBudget(scrape, h.TimeoutOffset); elapsed < want {
					t.Errorf("answered after %s, before the probe's budget %s ran out", elapsed, want)
				}
			})
		}
	}
}
