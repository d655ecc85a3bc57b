package limits

import (
	"sync"
	"testing"
)

func TestBudget(t *testing.T) {
	for _, tc := range []struct {
		name  string
		size  int
		takes []int
		want  []bool
		inUse int
	}{
		{"fits exactly", 4, []int{2, 2}, []bool{true, true}, 4},
		{"one too many", 4, []int{3, 2, 1}, []bool{true, false, true}, 4},
		{"empty budget", 0, []int{1}, []bool{false}, 0},
		{"negative size is empty", -3, []int{1}, []bool{false}, 0},
		{"larger than the budget", 2, []int{3}, []bool{false}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBudget(tc.size)
			for i, n := range tc.takes {
				if got := b.TryTake(n); got != tc.want[i] {
					t.Errorf("TryTake(%d) #%d = %v, want %v", n, i, got, tc.want[i])
				}
			}
			if b.InUse() != tc.inUse {
				t.Errorf("InUse() = %d, want %d", b.InUse(), tc.inUse)
			}
		})
	}
}

// TestBudgetConcurrent: however goroutines race, no more than Max is ever
// held and every unit comes back.
func TestBudgetConcurrent(t *testing.T) {
	b := NewBudget(10)
	var wg sync.WaitGroup
	var mu sync.Mutex
	peak := 0
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				if b.TryTake(3) {
					mu.Lock()
					peak = max(peak, b.InUse())
					mu.Unlock()
					b.Give(3)
				}
			}
		}()
	}
	wg.Wait()
	if peak > 10 || b.InUse() != 0 {
		t.Errorf("peak %d (max 10), in use at the end %d (want 0)", peak, b.InUse())
	}
}
