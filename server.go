package main

import (
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/exporter-toolkit/web"

	"github.com/tcp-verdict/tcp_verdict_exporter/handler"
	"github.com/tcp-verdict/tcp_verdict_exporter/limits"
)

// limitFlags are the serve command's load-limit flags (docs/security.md,
// "Load limits, HTTP hardening and debug"); 0 means derived (limits.Derive).
type limitFlags struct {
	maxInFlight, traceSockets, maxConns int
	disableDebug                        bool
}

// HTTP timeouts (docs/security.md, "Load limits, HTTP hardening and debug").
// Read and write timeouts bound every endpoint but /probe, whose handler
// moves its connection's deadlines to its probe's timeout
// (handler.extendDeadlines): a module may set any timeout, and a reload may
// change it.
const (
	readHeaderTimeout = 5 * time.Second
	readWriteTimeout  = 30 * time.Second
	// idleTimeout outlives a one-minute scrape interval, so Prometheus
	// keeps its connection; ConnLimit closes idle ones first when full.
	idleTimeout    = 2 * time.Minute
	maxHeaderBytes = 16 << 10 // a scrape's headers, basic auth included, with room
)

// newServer serves h, refusing request bodies unread (handler.RefuseBodies)
// and telling the connection limit which connections a handler serves
// (limits.ConnLimit.Serving), inside whatever exporter-toolkit puts in
// front (basic auth).
func newServer(h http.Handler, conns *limits.ConnLimit) *http.Server {
	return &http.Server{
		Handler:           conns.Serving(handler.RefuseBodies(h)),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readWriteTimeout,
		WriteTimeout:      readWriteTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ConnState:         conns.ConnState,
		ConnContext:       conns.ConnContext,
	}
}

// listenAndServe is web.ListenAndServe with the connection limit on each
// TCP listener. Systemd socket activation and vsock addresses go through
// web.ListenAndServe unchanged, without the connection limit.
func listenAndServe(server *http.Server, conns *limits.ConnLimit, flags *web.FlagConfig, logger *slog.Logger) error {
	if flags.WebSystemdSocket != nil && *flags.WebSystemdSocket {
		logger.Warn("systemd socket activation: --web.max-connections does not apply")
		return web.ListenAndServe(server, flags, logger)
	}
	listeners := make([]net.Listener, 0, len(*flags.WebListenAddresses))
	defer func() {
		for _, l := range listeners {
			_ = l.Close() // closed by Shutdown already, or the serve failed
		}
	}()
	for _, address := range *flags.WebListenAddresses {
		if strings.HasPrefix(address, "vsock://") {
			logger.Warn("vsock address: --web.max-connections does not apply")
			return web.ListenAndServe(server, flags, logger)
		}
		l, err := net.Listen("tcp", address)
		if err != nil {
			return err
		}
		listeners = append(listeners, conns.Listener(l))
	}
	return web.ServeMultiple(listeners, server, flags, logger)
}
