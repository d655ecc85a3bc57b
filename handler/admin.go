package handler

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/tcp-verdict/tcp_verdict_exporter/config"
)

// Reload serves POST /-/reload, the HTTP face of config.Store.Reload (which
// SIGHUP also calls): the running config stays when the new one is bad.
type Reload struct {
	Store  *config.Store
	Logger *slog.Logger
}

func (h *Reload) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		http.Error(w, "use POST to reload the configuration", http.StatusMethodNotAllowed)
		return
	}
	if err := h.Store.Reload(h.Logger); err != nil {
		http.Error(w, fmt.Sprintf("failed to reload config, keeping the running one: %s", err), http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, "config reloaded") //nolint:errcheck // the client left; the reload is done and logged
}

// Healthy serves /-/healthy and /-/ready.
func Healthy(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "Healthy") //nolint:errcheck // the client left; nothing to tell
}
