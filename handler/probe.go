// Package handler serves the exporter's HTTP endpoints: /probe, the status
// page and its transcripts, /-/reload and the health checks. It wires
// config → prober → collector per request.
package handler

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/collector"
	"github.com/tcp-verdict/tcp_verdict_exporter/config"
	"github.com/tcp-verdict/tcp_verdict_exporter/conntrack"
	"github.com/tcp-verdict/tcp_verdict_exporter/history"
	"github.com/tcp-verdict/tcp_verdict_exporter/limits"
	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
	"github.com/tcp-verdict/tcp_verdict_exporter/report"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// Probe serves /probe?target=host:port&module=NAME[&expect=LIST][&debug=true].
type Probe struct {
	Store    *config.Store
	Exporter *collector.Exporter
	Logger   *slog.Logger
	// TimeoutOffset is subtracted from Prometheus's scrape timeout so the
	// answer arrives before Prometheus gives up.
	TimeoutOffset time.Duration
	// History records each answered probe for the status page; nil keeps
	// none.
	History *history.History
	// Resolver resolves target names; nil means the system's.
	Resolver *net.Resolver
	// Limits bounds what probes hold at once: a probe that finds no free
	// slot is answered 503 at once; the path traces' sockets and the
	// sessions draining after their probe go to the prober. Nil: no bound,
	// and no session drains in the background.
	Limits *limits.Set
	// Conntrack is this host's conntrack table: a silent probe while it is
	// full is this host's error (prober.Options.Conntrack); nil: not read.
	Conntrack *conntrack.Table
	// DisableDebug refuses debug=true with 403 (--web.disable-debug).
	DisableDebug bool
}

// badRequest answers 400 with a one-line reason.
func badRequest(w http.ResponseWriter, reason string) {
	http.Error(w, strings.ReplaceAll(reason, "\n", " "), http.StatusBadRequest)
}

// ServeHTTP keeps the frames under a running probe small: the probe parks
// in the poller for up to its timeout with them on its goroutine's stack,
// and a stack beyond 8 KB doubles to 16 KB for every probe in flight
// (docs/performance.md, "A burst of probes in flight"). So the request lives in
// a pooled probeRequest, the probe gets pointers (prober.ProbeTo), and the
// parsing before and the answer after run in frames of their own. The
// Result is the exception: this frame holds it, for the parked probe's
// stack has room for it (the wait is at about 5.2 KB of 8 KB), while in
// the heap it would double the probeRequest's size class, for every probe
// in flight.
func (h *Probe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := h.parse(w, r)
	if req == nil {
		return
	}
	defer putRequest(req)
	if !h.admit(w, req) {
		return
	}
	defer h.release(req)
	extendDeadlines(w, req.timeout)
	var result prober.Result
	h.run(r.Context(), req, &result)
	h.answer(w, r, req, &result)
}

// probeRequest is what one /probe request asks.
type probeRequest struct {
	target     prober.Target
	moduleName string
	module     config.Module
	timeout    time.Duration
	debug      bool
	slots      int
}

var requests = sync.Pool{New: func() any { return new(probeRequest) }}

func putRequest(req *probeRequest) {
	*req = probeRequest{} // drops the module's references
	requests.Put(req)
}

// parse reads the request; on bad input it answers (400, or 403 for a
// disabled debug) and returns nil.
func (h *Probe) parse(w http.ResponseWriter, r *http.Request) *probeRequest {
	q := parseProbeQuery(r.URL.RawQuery)
	target, err := prober.ParseTarget(q.target)
	if err != nil {
		badRequest(w, err.Error())
		return nil
	}
	moduleName := config.ModuleName(q.module)
	module, err := h.Store.Get().Lookup(moduleName)
	if err != nil {
		badRequest(w, err.Error())
		return nil
	}
	timeout, err := h.timeout(r, module)
	if err != nil {
		badRequest(w, err.Error())
		return nil
	}
	if q.expect != "" { // it wins over the module's default
		if module.Expectation, err = verdict.ParseExpectation(q.expect); err != nil {
			badRequest(w, err.Error())
			return nil
		}
	}
	debug := false
	if d := q.debug; d != "" {
		if debug, err = strconv.ParseBool(d); err != nil {
			badRequest(w, fmt.Sprintf("debug=%q is not true or false", d))
			return nil
		}
	}
	if debug && h.DisableDebug {
		h.Exporter.CountRejected(collector.RejectDebugDisabled)
		http.Error(w, "debug=true is disabled on this exporter (--web.disable-debug)", http.StatusForbidden)
		return nil
	}
	req := requests.Get().(*probeRequest)
	req.target, req.moduleName, req.module, req.timeout, req.debug = target, moduleName, module, timeout, debug
	req.slots = limits.ProbeSlots(&req.module)
	return req
}

// admit takes the request's probe slots, or answers 503 at once. A module
// that needs more slots than there are can never run: its 503 says why,
// with no Retry-After, for trying again cannot help.
func (h *Probe) admit(w http.ResponseWriter, req *probeRequest) bool {
	if h.Limits != nil && req.slots > h.Limits.Slots.Max() {
		h.Exporter.CountRejected(collector.RejectOverloaded)
		http.Error(w, limits.UnfitReason(req.moduleName, &req.module, h.Limits.Slots.Max())+"; no probe with it can run on this exporter", http.StatusServiceUnavailable)
		return false
	}
	if h.Limits != nil && !h.Limits.Slots.TryTake(req.slots) {
		h.Exporter.CountRejected(collector.RejectOverloaded)
		w.Header().Set("Retry-After", retryAfter)
		http.Error(w, fmt.Sprintf("overloaded: %d probes in flight, the limit (--probe.max-in-flight); try again later", h.Limits.Slots.InUse()), http.StatusServiceUnavailable)
		return false
	}
	h.Exporter.ProbeStarted()
	return true
}

// release gives back what admit took.
func (h *Probe) release(req *probeRequest) {
	h.Exporter.ProbeDone()
	if h.Limits != nil {
		h.Limits.Slots.Give(req.slots)
	}
}

// run probes, bounded by the request's timeout.
func (h *Probe) run(ctx context.Context, req *probeRequest, result *prober.Result) {
	ctx, cancel := context.WithTimeout(ctx, req.timeout)
	defer cancel()
	opts := prober.Options{Trace: req.debug, Resolver: h.Resolver, Conntrack: h.conntrack()}
	if h.Limits != nil {
		opts.TraceBudget, opts.Drains = h.Limits.TraceSockets, h.Limits.Drains
	}
	prober.ProbeTo(ctx, req.target, &req.module, opts, result)
}

// answer counts, records, logs and writes what the probe found.
func (h *Probe) answer(w http.ResponseWriter, r *http.Request, req *probeRequest, result *prober.Result) {
	moduleName := req.moduleName
	if result.Refusal != nil {
		h.refuse(w, result, moduleName)
		return
	}
	if clientGone(r.Context()) {
		// The client went away mid-probe: the cut-short probe is no
		// verdict, so it is neither counted nor answered.
		h.Logger.Debug("client went away during the probe", "target", req.target.String(), "module", moduleName)
		return
	}
	h.Exporter.CountProbe(moduleName, result.Class)
	h.History.Add(moduleName, result)
	if result.Class == verdict.Error || h.Logger.Enabled(r.Context(), slog.LevelDebug) {
		h.log(moduleName, result)
	}
	if result.TraceSkipped == prober.TraceOverBudget {
		// A limit doing its job, counted in the metrics; at warn, a storm of
		// failing probes would become a storm of log lines.
		h.Logger.Debug("path trace skipped", "target", req.target.String(), "module", moduleName, "err", result.TraceErr)
	} else if result.TraceErr != nil { // the verdict stands; the operator must hear of it
		h.Logger.Warn("path trace could not run", "target", req.target.String(), "module", moduleName, "reason", result.TraceSkipped, "err", result.TraceErr)
	}
	if hc := result.Host; hc != nil && hc.Skipped == prober.TraceOverBudget { // as the trace's
		h.Logger.Debug("host check skipped", "target", req.target.String(), "module", moduleName, "err", hc.Err)
	} else if hc != nil && hc.Err != nil {
		h.Logger.Warn("host check could not run", "target", req.target.String(), "module", moduleName, "reason", hc.Skipped, "err", hc.Err)
	}

	if req.debug {
		writeDebug(w, moduleName, result)
		return
	}
	b := textBuffers.Get().(*bytes.Buffer)
	b.Reset()
	collector.AppendText(b, result)
	w.Header().Set("Content-Type", collector.TextContentType)
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.Write(b.Bytes()) //nolint:errcheck // the scrape is answered or its client left; nothing to tell either way
	textBuffers.Put(b)
}

// refuse answers a probe the target policy refused: 403 with the one-line
// refusal naming the rule, counted, and no metrics, for nothing was probed.
func (h *Probe) refuse(w http.ResponseWriter, r *prober.Result, module string) {
	h.Exporter.CountRejected(collector.RejectPolicy)
	h.Logger.Debug("target refused by the target policy", "target", r.Target.String(), "module", module, "err", r.Refusal)
	http.Error(w, r.Refusal.Error(), http.StatusForbidden)
}

// retryAfter is the Retry-After of a 503: probes last seconds, so a slot
// is likely free a second later.
const retryAfter = "1"

// extendDeadlines lets this request's connection live as long as its
// probe: the server's ReadTimeout and WriteTimeout (server.go) are short,
// for every other endpoint, and a read deadline that passes mid-probe
// would cancel the request.
func extendDeadlines(w http.ResponseWriter, timeout time.Duration) {
	rc := http.NewResponseController(w)
	end := time.Now().Add(timeout + answerMargin)
	// Errors mean the writer cannot set deadlines (a test recorder): the
	// server's own then apply.
	_ = rc.SetReadDeadline(end)
	_ = rc.SetWriteDeadline(end)
}

// answerMargin is the time beyond the probe's timeout to write its answer.
const answerMargin = 5 * time.Second

// textBuffers recycles /probe's response buffers.
var textBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// timeout is the smaller of the module's timeout (config's default when it
// sets none) and the share of Prometheus's scrape timeout that scrapeBudget
// gives the probe: a probe never outlives the scrape.
func (h *Probe) timeout(r *http.Request, m config.Module) (time.Duration, error) {
	timeout := m.ProbeTimeout()
	if v := r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds"); v != "" {
		secs, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(secs) || secs <= 0 || secs > 1e6 { // ±Inf fail the range
			return 0, fmt.Errorf("X-Prometheus-Scrape-Timeout-Seconds %q is not a positive number of seconds", v)
		}
		budget := scrapeBudget(time.Duration(secs*float64(time.Second)), h.TimeoutOffset)
		if budget <= 0 {
			return 0, fmt.Errorf("X-Prometheus-Scrape-Timeout-Seconds %q leaves no time to probe", v)
		}
		if budget < config.MinProbeTimeout {
			// Not a probe cut short, which would read as a firewall.
			return 0, fmt.Errorf("X-Prometheus-Scrape-Timeout-Seconds %q leaves %s to probe, less than the %s a probe needs", v, budget, config.MinProbeTimeout)
		}
		timeout = min(timeout, budget)
	}
	return timeout, nil
}

// scrapeBudget is the probe's share of a scrape timeout: the timeout less
// the offset, but never less than half of it, so that a scrape timeout at
// or below the offset still gets an answer in time (docs/configuration.md, "The probe's deadline").
// It grows with the scrape timeout, with no jump where the two rules meet.
func scrapeBudget(scrape, offset time.Duration) time.Duration {
	return max(scrape-offset, scrape/2)
}

func (h *Probe) log(module string, r *prober.Result) {
	attrs := []any{"target", r.Target.String(), "module", module, "class", r.Class, "reason", r.Reason,
		"responder", r.Responder, "duration_seconds", r.Duration.Seconds()}
	if r.Addr.IsValid() {
		attrs = append(attrs, "address", r.Addr.Addr())
	}
	if r.Err != nil {
		attrs = append(attrs, "err", r.Err)
	}
	if r.Failure != "" {
		attrs = append(attrs, "failure", r.Failure)
	}
	if r.Cause != "" {
		attrs = append(attrs, "failure_cause", r.Cause)
	}
	if len(r.Attempts) > 0 { // tcp.attempts > 1
		attrs = append(attrs, "intermittent", r.Intermittent(), "attempts", report.AttemptCounts(r))
	}
	if r.SynRetransmits > 0 {
		attrs = append(attrs, "syn_retransmits", r.SynRetransmits)
	}
	if len(r.Hops) > 0 {
		if hop, ok := r.LastHop(); ok {
			attrs = append(attrs, "last_hop_ttl", hop.TTL, "last_hop", hop.Addr, "last_hop_said", hop.Answer())
		} else {
			attrs = append(attrs, "last_hop_ttl", 0)
		}
	}
	if hc := r.Host; hc != nil && hc.Tried {
		attrs = append(attrs, "host_up", hc.Up, "host_note", hc.Note)
		if hc.HostTrace != nil {
			attrs = append(attrs, "host_hops", hc.HostHops, "reset_hops", hc.ResetHops)
		}
	}
	if r.Class == verdict.Error {
		// Our own host failed: the operator must hear of it.
		h.Logger.Warn("probe failed on the exporter's host", attrs...)
		return
	}
	h.Logger.Debug("probe done", attrs...)
}

func writeDebug(w http.ResponseWriter, module string, r *prober.Result) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Probing %s with module %s\n\n", r.Target, module)
	b.WriteString(r.TranscriptText())
	b.WriteString("\n")
	b.WriteString(report.VerdictBlock(r))
	b.WriteString("\nMetrics that would have been returned:\n")
	collector.AppendText(&b, r)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	out := b.Bytes()
	if len(out) > maxDebugBytes {
		// The transcript is bounded already (prober.MaxReceivedTranscript);
		// this is the last guard, and it says so.
		out = append(out[:maxDebugBytes-len(debugCut)], debugCut...)
	}
	w.Write(out) //nolint:errcheck // the client left; nothing to tell
}

// maxDebugBytes bounds a debug answer (docs/security.md, "Load limits, HTTP hardening and debug").
const maxDebugBytes = 64 << 10

var debugCut = fmt.Sprintf("\n[debug output cut at %d bytes]\n", maxDebugBytes)

// clientGone reports whether the request's context has ended. A deadline
// that has passed counts even before the context's timer cancels it: the
// probe's sockets share that deadline and may notice it first.
func clientGone(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// conntrack is the table as the prober takes it: a nil *conntrack.Table
// must become a nil interface, or the prober would read through it.
func (h *Probe) conntrack() prober.Conntrack {
	if h.Conntrack == nil {
		return nil
	}
	return h.Conntrack
}
