package limits

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeSession ends when its peer has, as Poll finds at its next call.
type fakeSession struct {
	peerEnded atomic.Bool
	polls     atomic.Int32
	closed    atomic.Int32
}

func (s *fakeSession) Poll() bool   { s.polls.Add(1); return s.peerEnded.Load() }
func (s *fakeSession) Close() error { s.closed.Add(1); return nil }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

// A session whose peer has ended is closed at its first poll, once.
func TestDrainsClosesEndedSession(t *testing.T) {
	d := NewDrains(4)
	s := &fakeSession{}
	s.peerEnded.Store(true)
	if !d.Drain(s, time.Now().Add(time.Minute)) {
		t.Fatal("Drain refused a session under the bound")
	}
	if !d.Wait(5 * time.Second) {
		t.Fatal("the session was never closed")
	}
	if s.closed.Load() != 1 || s.polls.Load() != 1 || d.InUse() != 0 {
		t.Errorf("closed %d times after %d polls, %d in use; want 1, 1, 0", s.closed.Load(), s.polls.Load(), d.InUse())
	}
}

// A silent peer is polled at growing gaps until its peer ends the session,
// and the session stays open until then.
func TestDrainsPollsUntilPeerEnds(t *testing.T) {
	d := NewDrains(4)
	s := &fakeSession{}
	d.Drain(s, time.Now().Add(time.Minute))
	waitFor(t, "three polls", func() bool { return s.polls.Load() >= 3 })
	if s.closed.Load() != 0 {
		t.Fatal("closed before its peer ended it")
	}
	s.peerEnded.Store(true)
	if !d.Wait(5 * time.Second) {
		t.Fatal("not closed after its peer ended it")
	}
	// The gaps double from firstPoll up to maxPollGap: a peer that ends
	// after a second is polled some ten times, not a thousand.
	if n := s.polls.Load(); n > 64 {
		t.Errorf("%d polls", n)
	}
}

// At its end a session is closed whatever its peer does.
func TestDrainsEndsAtItsTime(t *testing.T) {
	d := NewDrains(4)
	s := &fakeSession{}
	start := time.Now()
	d.Drain(s, start.Add(50*time.Millisecond))
	if !d.Wait(5 * time.Second) {
		t.Fatal("never closed")
	}
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Errorf("closed after %s, before its end", took)
	}
	if s.closed.Load() != 1 {
		t.Errorf("closed %d times", s.closed.Load())
	}
}

// A session handed over while the poller sleeps on a slow one is polled
// soon, not when the slow one is next due.
func TestDrainsNewSessionNotDelayed(t *testing.T) {
	d := NewDrains(4)
	slow := &fakeSession{}
	d.Drain(slow, time.Now().Add(time.Minute))
	waitFor(t, "the slow session's gap to grow", func() bool { return slow.polls.Load() >= 7 }) // gaps up to 128 ms
	fast := &fakeSession{}
	fast.peerEnded.Store(true)
	start := time.Now()
	d.Drain(fast, time.Now().Add(time.Minute))
	waitFor(t, "the new session to close", func() bool { return fast.closed.Load() == 1 })
	if took := time.Since(start); took > 60*time.Millisecond {
		t.Errorf("the new session closed after %s", took)
	}
	slow.peerEnded.Store(true)
	d.Wait(5 * time.Second)
}

func TestDrainsBound(t *testing.T) {
	d := NewDrains(2)
	sessions := []*fakeSession{{}, {}, {}}
	for i, s := range sessions[:2] {
		if !d.Drain(s, time.Now().Add(time.Minute)) {
			t.Fatalf("session %d of 2 does not fit a bound of 2", i+1)
		}
	}
	if d.Drain(sessions[2], time.Now().Add(time.Minute)) {
		t.Error("a third session fits a bound of 2")
	}
	if d.InUse() != 2 || d.Max() != 2 {
		t.Errorf("InUse %d, Max %d; want 2, 2", d.InUse(), d.Max())
	}
	sessions[0].peerEnded.Store(true)
	waitFor(t, "a place to free", func() bool { return d.InUse() == 1 })
	if !d.Drain(sessions[2], time.Now().Add(time.Minute)) {
		t.Error("a session that ended did not free its place")
	}
	sessions[1].peerEnded.Store(true)
	sessions[2].peerEnded.Store(true)
	if !d.Wait(5*time.Second) || d.InUse() != 0 {
		t.Errorf("InUse %d after every session ended, want 0", d.InUse())
	}
}

// Many goroutines hand sessions over at once: each is closed exactly once.
func TestDrainsConcurrent(t *testing.T) {
	d := NewDrains(1000)
	var all []*fakeSession
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				s := &fakeSession{}
				s.peerEnded.Store(i%2 == 0)
				if d.Drain(s, time.Now().Add(30*time.Millisecond)) {
					mu.Lock()
					all = append(all, s)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if !d.Wait(5 * time.Second) {
		t.Fatal("not every session closed")
	}
	if len(all) != 800 {
		t.Errorf("%d sessions taken, want 800", len(all))
	}
	for _, s := range all {
		if s.closed.Load() != 1 {
			t.Fatalf("a session closed %d times", s.closed.Load())
		}
	}
}

// A nil *Drains takes nothing and has nothing to wait for.
func TestDrainsNil(t *testing.T) {
	var d *Drains
	if d.Drain(&fakeSession{}, time.Now().Add(time.Second)) {
		t.Error("a nil Drains took a session")
	}
	if !d.Wait(time.Millisecond) {
		t.Error("a nil Drains has something to wait for")
	}
}

// Wait returns false at its timeout while a session drains.
func TestDrainsWaitTimesOut(t *testing.T) {
	d := NewDrains(4)
	s := &fakeSession{}
	d.Drain(s, time.Now().Add(time.Minute))
	if d.Wait(20 * time.Millisecond) {
		t.Error("Wait returned true with a session draining")
	}
	s.peerEnded.Store(true)
	if !d.Wait(5 * time.Second) {
		t.Error("Wait timed out though the session ended")
	}
}
