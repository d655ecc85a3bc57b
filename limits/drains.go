package limits

import (
	"sync"
	"time"
)

// DefaultMaxDraining bounds the draining sessions when the descriptor plan
// leaves room for more: each holds a descriptor for up to the prober's
// drain time.
const DefaultMaxDraining = 256

// Drains bounds and tracks the sessions that drain after their probe: the
// prober ends a session with FIN and, when the peer may still send, reads
// until the peer's FIN in the background (prober.Options.Drains). Each
// holds a descriptor meanwhile, so their number is part of the descriptor
// plan; a command about to exit waits for them (Wait), as exit would
// close them with a RST.
//
// A nil *Drains lets no session drain: Start is always false.
type Drains struct {
	held    Budget
	running sync.WaitGroup
}

// NewDrains allows n sessions to drain at once.
func NewDrains(n int) *Drains { return &Drains{held: Budget{max: int64(max(n, 0))}} }

// Start reserves a place for one draining session and reports whether
// there was one; each true is followed by one Done.
func (d *Drains) Start() bool {
	if d == nil || !d.held.TryTake(1) {
		return false
	}
	d.running.Add(1)
	return true
}

// Done ends a draining session that Start admitted.
func (d *Drains) Done() {
	d.held.Give(1)
	d.running.Done()
}

// Wait waits, at most timeout, until every session Start admitted is Done,
// and reports whether they all were.
func (d *Drains) Wait(timeout time.Duration) bool {
	if d == nil {
		return true
	}
	done := make(chan struct{})
	go func() {
		d.running.Wait()
		close(done)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// InUse is the number of sessions draining now.
func (d *Drains) InUse() int { return d.held.InUse() }

// Max is the bound on the sessions draining at once.
func (d *Drains) Max() int { return d.held.Max() }
