package limits

import (
	"testing"
	"time"
)

func TestDrainsBound(t *testing.T) {
	d := NewDrains(2)
	for i := range 2 {
		if !d.Start() {
			t.Fatalf("drain %d of 2 does not fit a bound of 2", i+1)
		}
	}
	if d.Start() {
		t.Error("a third drain fits a bound of 2")
	}
	if d.InUse() != 2 || d.Max() != 2 {
		t.Errorf("InUse %d, Max %d; want 2, 2", d.InUse(), d.Max())
	}
	d.Done()
	if !d.Start() {
		t.Error("a drain that ended did not free its place")
	}
	d.Done()
	d.Done()
	if d.InUse() != 0 {
		t.Errorf("InUse %d after every drain ended, want 0", d.InUse())
	}
}

// A nil *Drains lets nothing drain and has nothing to wait for.
func TestDrainsNil(t *testing.T) {
	var d *Drains
	if d.Start() {
		t.Error("a nil Drains admitted a drain")
	}
	if !d.Wait(time.Millisecond) {
		t.Error("a nil Drains has something to wait for")
	}
}

// Wait returns when the last drain ends, or false at its timeout.
func TestDrainsWait(t *testing.T) {
	d := NewDrains(4)
	if !d.Start() {
		t.Fatal("Start refused")
	}
	if d.Wait(20 * time.Millisecond) {
		t.Error("Wait returned true with a drain running")
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		d.Done()
	}()
	start := time.Now()
	if !d.Wait(5 * time.Second) {
		t.Error("Wait timed out though the drain ended")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Wait took %s after the drain ended", took)
	}
}
