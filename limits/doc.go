// Package limits is the one home of the exporter's load limits: the
// descriptor plan that derives them from RLIMIT_NOFILE (Derive), the probe
// slots and the path traces' sockets (Budget), the sessions draining after
// their probe (Drains) and the HTTP connections (ConnLimit). main builds
// one Set and passes it in: the handler takes slots and connections, the
// prober gets the trace budget and the drains through prober.Options, and
// collector exposes the gauges from the read-only InUse and Max. Nothing
// here is a package-level variable, so two Sets (two tests, two servers)
// never share a count (docs/security.md, "Load limits, HTTP hardening and
// debug").
//
// It imports no Prometheus: the prober, which knows nothing of Prometheus,
// depends on it.
package limits
