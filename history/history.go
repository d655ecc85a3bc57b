// Package history keeps the exporter's recent probes for the status page:
// the last N results in a ring buffer, each under an ID its transcript link
// names, and the current verdict of each recently probed target with the
// time it last changed. Both are bounded, so memory stays flat however
// many targets are probed. It is safe for concurrent use.
package history

import (
	"container/list"
	"sync"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// DefaultLimit is --history.limit's default, blackbox_exporter's.
const DefaultLimit = 100

// Entry is one recorded probe. The Result is kept whole, so its transcript
// page renders from it on demand; nothing is formatted when it is recorded.
type Entry struct {
	ID     uint64 // from 1 upwards; never reused while the process runs
	Time   time.Time
	Module string
	Result prober.Result
}

// Current is a target's latest verdict under one module.
type Current struct {
	Target prober.Target
	Module string
	Class  verdict.Class
	Reason verdict.Reason
	Since  time.Time // when Class last changed (or was first seen)
	Last   time.Time // the latest probe
	LastID uint64    // the latest probe's Entry.ID
}

// key is a target as one module probes it: the same host:port may be open
// to plain TCP and fail under a TLS module.
type key struct {
	target prober.Target
	module string
}

// History holds the recent probes. The zero value is not usable; use New.
type History struct {
	now   func() time.Time
	limit int

	mu     sync.Mutex
	ring   []Entry // ring[(id-1) % limit] is entry id, for the last limit ids
	lastID uint64
	// The current verdicts, most recently probed at the front; at most
	// limit of them, the least recently probed evicted first.
	order   *list.List // of *Current
	targets map[key]*list.Element
}

// New keeps the last limit probes and the current verdict of up to limit
// targets. A limit of 0 or less keeps nothing (a nil History, on which
// every method is a no-op).
func New(limit int) *History {
	if limit <= 0 {
		return nil
	}
	return &History{now: time.Now, limit: limit, ring: make([]Entry, 0, limit),
		order: list.New(), targets: make(map[key]*list.Element, limit)}
}

// Add records a probe and returns its ID (0 on a nil History). The Result
// is kept as it is: the caller must not change it afterwards.
func (h *History) Add(module string, r *prober.Result) uint64 {
	if h == nil {
		return 0
	}
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastID++
	if len(h.ring) < h.limit {
		h.ring = append(h.ring, Entry{})
	}
	e := &h.ring[(h.lastID-1)%uint64(h.limit)]
	*e = Entry{ID: h.lastID, Time: now, Module: module, Result: *r}
	h.track(e)
	return e.ID
}

// track updates the entry's target's current verdict; h.mu is held.
func (h *History) track(e *Entry) {
	k := key{e.Result.Target, e.Module}
	if el, ok := h.targets[k]; ok {
		c := el.Value.(*Current)
		if c.Class != e.Result.Class {
			c.Class, c.Since = e.Result.Class, e.Time
		}
		c.Reason, c.Last, c.LastID = e.Result.Reason, e.Time, e.ID
		h.order.MoveToFront(el)
		return
	}
	var el *list.Element
	if h.order.Len() >= h.limit {
		// The least recently probed target makes room; its element is
		// reused, so a steady stream of new targets allocates nothing.
		el = h.order.Back()
		c := el.Value.(*Current)
		delete(h.targets, key{c.Target, c.Module})
		h.order.MoveToFront(el)
	} else {
		el = h.order.PushFront(&Current{})
	}
	*el.Value.(*Current) = Current{Target: e.Result.Target, Module: e.Module,
		Class: e.Result.Class, Reason: e.Result.Reason, Since: e.Time, Last: e.Time, LastID: e.ID}
	h.targets[k] = el
}

// Get returns the entry with the given ID; false when there never was one
// or it has been evicted.
func (h *History) Get(id uint64) (Entry, bool) {
	if h == nil {
		return Entry{}, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if id == 0 || id > h.lastID || h.lastID-id >= uint64(len(h.ring)) {
		return Entry{}, false
	}
	return h.ring[(id-1)%uint64(h.limit)], true
}

// Recent returns the recorded probes, newest first.
func (h *History) Recent() []Entry {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Entry, 0, len(h.ring))
	for i := range uint64(len(h.ring)) {
		out = append(out, h.ring[(h.lastID-1-i)%uint64(h.limit)])
	}
	return out
}

// Current returns the current verdicts, the most recently probed first.
func (h *History) Current() []Current {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Current, 0, h.order.Len())
	for el := h.order.Front(); el != nil; el = el.Next() {
		out = append(out, *el.Value.(*Current))
	}
	return out
}

// Limit is the number of probes and targets kept; 0 on a nil History.
func (h *History) Limit() int {
	if h == nil {
		return 0
	}
	return h.limit
}
