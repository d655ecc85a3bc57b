package handler

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tcp-verdict/tcp_verdict_exporter/collector"
	"github.com/tcp-verdict/tcp_verdict_exporter/config"
	"github.com/tcp-verdict/tcp_verdict_exporter/limits"
)

const unfitConfig = `modules:
  tcp: {prober: tcp}
  all8: {prober: tcp, tcp: {addresses: all}}
  all64: {prober: tcp, tcp: {addresses: all, max_addresses: 64}}
`

// Issue 18, item 6: a module that needs more probe slots than there are
// answered every probe with 503 "0 probes in flight" and nothing said why.
// Now it is a warning at start and on every reload, with the arithmetic,
// and its 503 says the same, without a Retry-After.
func TestUnfitModules(t *testing.T) {
	path := t.TempDir() + "/config.yml"
	if err := os.WriteFile(path, []byte(unfitConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	store, err := config.NewStore(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	const want = "module all64 needs 32 probe slots (tcp.addresses all, tcp.max_addresses 64: one slot per 2 sockets dialled at once), but the exporter has 14 (--probe.max-in-flight): lower tcp.max_addresses to 28 or less, or raise the limit"
	warnings := store.SetVet(limits.Plan{MaxInFlight: 14}.UnfitModules)
	if len(warnings) != 1 || warnings[0] != want+"; every probe with it is refused" {
		t.Fatalf("warnings at start %q, want one for all64: %q", warnings, want)
	}
	// A reload checks the new file too: all8 needs 4 slots, of 14.
	if err := store.Reload(nil); err != nil {
		t.Fatal(err)
	}
	if w := store.Get().Warnings; len(w) != 1 || !strings.HasPrefix(w[0], "module all64 needs 32 probe slots") {
		t.Errorf("warnings after a reload %q, want the one for all64", w)
	}
	if w := (limits.Plan{MaxInFlight: 2}).UnfitModules(store.Get()); len(w) != 2 || !strings.Contains(w[0], "module all64 needs 32") || !strings.Contains(w[1], "module all8 needs 4 probe slots") || !strings.Contains(w[1], "lower tcp.max_addresses to 4 or less") {
		t.Errorf("with 2 slots: %q", w)
	}

	h := &Probe{Store: store, Exporter: collector.NewExporter(prometheus.NewRegistry(), store),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Limits: limits.New(limits.Plan{MaxInFlight: 14})}
	rec := get(t, h, "target=127.0.0.1:9&module=all64", nil)
	body := rec.Body.String()
	if rec.Code != http.StatusServiceUnavailable || !strings.HasPrefix(body, want+"; no probe with it can run on this exporter") {
		t.Errorf("probe with all64: %d %q, want 503 with the arithmetic", rec.Code, body)
	}
	if ra := rec.Header().Get("Retry-After"); ra != "" {
		t.Errorf("Retry-After %q on a probe that can never run", ra)
	}
	if h.Limits.Slots.InUse() != 0 {
		t.Errorf("%d slots taken by a refused probe", h.Limits.Slots.InUse())
	}
}
