package limits

import (
	"math"

	"github.com/tcp-verdict/tcp_verdict_exporter/config"
)

// The descriptor plan behind the default limits (docs/security.md, "Load
// limits, HTTP hardening and debug"). With RLIMIT_NOFILE = L:
//
//	L = reservedFiles + trace sockets + draining sessions + HTTP connections + probe sockets
//
// The path traces get a quarter of what the reserve leaves, the sessions
// that drain after a probe (Drains) an eighth; each probe in flight holds
// its request's connection and up to filesPerSlot-1 sockets of its own;
// spareConns connections stay for /metrics, the health checks and the
// requests answered 503. So no mix of requests to /probe can take the
// descriptor a probe needs: one that does not fit is refused with 503
// before it dials, and never becomes a false "local-error" verdict.
const (
	// reservedFiles: standard streams, the listeners, the runtime's poller,
	// the config file on reload, the process collector's /proc reads.
	reservedFiles = 32
	// filesPerSlot: a slot is one request's connection, plus the probe's
	// socket or, while it resolves a name, the resolver's two (A and AAAA
	// at once).
	filesPerSlot = 3
	// spareConns: connections beyond the probes in flight.
	spareConns = 16
	// traceShare and drainShare: the path traces' and the draining
	// sessions' parts of the descriptors left after the reserve, as
	// divisors.
	traceShare = 4
	drainShare = 8
	// maxNofile caps what an "unlimited" RLIMIT_NOFILE counts for.
	maxNofile = 1 << 20
)

// Plan is what requests to the exporter may hold at once.
type Plan struct {
	MaxInFlight     int // probe slots (ProbeSlots); >= 1
	TraceSockets    int // sockets all path traces may hold together
	Draining        int // sessions draining after their probe (Drains)
	MaxConnections  int // HTTP connections held at once
	NofileLimit     int // the RLIMIT_NOFILE they were derived from; 0 if unknown
	DerivedInFlight bool
}

// Derive fills the limits left at 0 (by flags) from nofile, the process's
// RLIMIT_NOFILE (0 when unknown: then they are unbounded but for the
// connections, which follow the probes).
func Derive(nofile, maxInFlight, traceSockets, maxConns int) Plan {
	l := Plan{MaxInFlight: maxInFlight, TraceSockets: traceSockets, MaxConnections: maxConns, NofileLimit: nofile}
	if nofile <= 0 || nofile > maxNofile {
		nofile = maxNofile
	}
	avail := max(nofile-reservedFiles, 0)
	if l.TraceSockets <= 0 {
		l.TraceSockets = avail / traceShare
	}
	l.Draining = min(avail/drainShare, DefaultMaxDraining)
	if l.MaxInFlight <= 0 {
		l.DerivedInFlight = true
		// One probe always fits, so that a tiny limit still gives an
		// answer: the exporter's own error, as it is.
		l.MaxInFlight = max((avail-l.TraceSockets-l.Draining-spareConns)/filesPerSlot, 1)
	}
	if l.MaxConnections <= 0 {
		l.MaxConnections = min(l.MaxInFlight, math.MaxInt-spareConns) + spareConns
	}
	return l
}

// ProbeSlots is how many probe slots a probe with module m takes: one per
// two sockets it may hold at once beyond its connection (filesPerSlot). A
// probe dials one address, or with tcp.addresses "all" up to
// tcp.max_addresses at once.
func ProbeSlots(m *config.Module) int {
	sockets := max(m.TCP.Attempts, 1) // tcp.attempts: a socket each
	if m.TCP.Addresses == config.AddressesAll {
		sockets = m.TCP.MaxAddresses
	}
	return (max(sockets, filesPerSlot-1) + filesPerSlot - 2) / (filesPerSlot - 1)
}

// Set is the exporter's load limits, built once from a Plan and passed to
// whatever takes from them.
type Set struct {
	Plan Plan
	// Slots bounds the probes in flight (ProbeSlots each).
	Slots *Budget
	// TraceSockets bounds the sockets of all path traces together.
	TraceSockets *Budget
	// Drains bounds the sessions draining after their probe.
	Drains *Drains
	// Conns bounds the HTTP connections.
	Conns *ConnLimit
}

// New builds the limits of plan p.
func New(p Plan) *Set {
	return &Set{
		Plan:         p,
		Slots:        NewBudget(p.MaxInFlight),
		TraceSockets: NewBudget(p.TraceSockets),
		Drains:       NewDrains(p.Draining),
		Conns:        NewConnLimit(p.MaxConnections),
	}
}
