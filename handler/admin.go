package handler

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/tcp-verdict/tcp_verdict_exporter/config"
)

// Reload serves POST /-/reload: it reloads the config file and keeps the
// running one when the new one is bad.
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
	if err := ReloadConfig(h.Store, h.Logger); err != nil {
		http.Error(w, fmt.Sprintf("failed to reload config, keeping the running one: %s", err), http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, "config reloaded")
}

// ReloadConfig reloads and logs the outcome; SIGHUP and /-/reload share it.
func ReloadConfig(store *config.Store, logger *slog.Logger) error {
	if err := store.Reload(); err != nil {
		logger.Error("failed to reload config, keeping the running one", "config", store.Source(), "err", err)
		return err
	}
	LogWarnings(store, logger)
	logger.Info("loaded config", "config", store.Source(), "modules", store.Get().ModuleNames())
	return nil
}

// LogWarnings logs what the running config loads with but cannot serve.
func LogWarnings(store *config.Store, logger *slog.Logger) {
	for _, w := range store.Get().Warnings {
		logger.Warn(w)
	}
}

// Healthy serves /-/healthy and /-/ready.
func Healthy(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "Healthy")
}
