package limits

import (
	"sync"
	"time"
)

// DefaultMaxDraining bounds the draining sessions when the descriptor plan
// leaves room for more: each holds a descriptor until its peer ends it or
// its drain time passes.
const DefaultMaxDraining = 256

// A Session is a connection left to drain after its probe: our FIN is
// sent, and what the peer still sends must be read, or the kernel would
// answer it with a RST once the socket is closed.
type Session interface {
	// Poll reads and drops, without waiting, what the peer has sent, and
	// reports whether there is nothing more to wait for: the peer's FIN
	// or RST, or an error.
	Poll() (ended bool)
	Close() error
}

// The gaps between two polls of a session: the first comes firstPoll after
// it was handed over (on loopback and in a LAN the peer's FIN or RST is
// there by then), each next one twice as late, up to maxPollGap. So a
// session costs a poll or two, not a goroutine and a wake-up of its own,
// and a slow peer some ten polls over a second.
const (
	firstPoll  = 2 * time.Millisecond
	maxPollGap = 128 * time.Millisecond
	// minSleep batches the polls of sessions handed over close together.
	minSleep = time.Millisecond
)

// Drains bounds and runs the sessions that drain after their probe. The
// prober ends a session with FIN and hands it over (Drain); one goroutine,
// running while any session drains, polls each at growing gaps and closes
// it once the peer has ended it or its time is up. Each holds a descriptor
// meanwhile, so their number is part of the descriptor plan; a command
// about to exit waits for them (Wait), as exit would close them with a RST.
//
// A nil *Drains takes no session: Drain is always false.
type Drains struct {
	held    Budget
	running sync.WaitGroup

	mu      sync.Mutex
	queue   []draining // handed over since the poller's last turn
	polling bool       // the poller goroutine runs
	wake    time.Time  // when the sleeping poller wakes; zero while it polls
	kick    chan struct{}
	now     func() time.Time
}

type draining struct {
	s         Session
	next, end time.Time
	gap       time.Duration
}

// NewDrains allows n sessions to drain at once.
func NewDrains(n int) *Drains {
	return &Drains{held: Budget{max: int64(max(n, 0))}, kick: make(chan struct{}, 1), now: time.Now}
}

// Drain takes s over, if the bound leaves room: it is polled until its
// peer ends it or until end, then closed. On false the caller keeps s.
func (d *Drains) Drain(s Session, end time.Time) bool {
	if d == nil || !d.held.TryTake(1) {
		return false
	}
	d.running.Add(1)
	now := d.now()
	e := draining{s: s, next: now.Add(firstPoll), end: end, gap: firstPoll}
	d.mu.Lock()
	d.queue = append(d.queue, e)
	start := !d.polling
	early := !d.wake.IsZero() && e.next.Before(d.wake) // the poller sleeps past it
	d.polling = true
	d.mu.Unlock()
	switch {
	case start:
		go d.poll()
	case early:
		select {
		case d.kick <- struct{}{}:
		default: // a kick is pending already
		}
	}
	return true
}

// poll runs while sessions drain: it polls those due, closes those done,
// and sleeps until the next is due.
func (d *Drains) poll() {
	var batch []draining
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		d.mu.Lock()
		batch, d.queue = d.queue, batch[:0]
		d.wake = time.Time{}
		d.mu.Unlock()

		now := d.now()
		kept := batch[:0]
		for _, e := range batch {
			if now.Before(e.next) {
				kept = append(kept, e)
				continue
			}
			if e.s.Poll() || !now.Before(e.end) {
				_ = e.s.Close() // the session is over; a close error changes nothing
				d.held.Give(1)
				d.running.Done()
				continue
			}
			e.gap = min(2*e.gap, maxPollGap)
			e.next = now.Add(e.gap)
			if e.next.After(e.end) {
				e.next = e.end
			}
			kept = append(kept, e)
		}
		clear(batch[len(kept):]) // no closed session stays referenced

		d.mu.Lock()
		// Sessions handed over meanwhile are in d.queue; the kept ones
		// go before them. The two slices swap roles on the next turn.
		kept = append(kept, d.queue...)
		clear(d.queue)
		d.queue, batch = kept, d.queue[:0]
		if len(d.queue) == 0 {
			d.polling = false
			d.mu.Unlock()
			return
		}
		wake := d.queue[0].next
		for _, e := range d.queue[1:] {
			if e.next.Before(wake) {
				wake = e.next
			}
		}
		sleep := max(wake.Sub(d.now()), minSleep)
		d.wake = d.now().Add(sleep)
		d.mu.Unlock()
		timer.Reset(sleep)
		select {
		case <-timer.C:
		case <-d.kick:
			timer.Stop()
		}
	}
}

// Wait waits, at most timeout, until every session handed over is closed,
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
