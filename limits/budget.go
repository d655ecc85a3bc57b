package limits

import "sync/atomic"

// Budget is a count of units of which at most Max may be held at once,
// across goroutines: probe slots, path-trace sockets. A request that does
// not fit is refused at once, never queued, so a flood is answered fast
// instead of piling up.
type Budget struct {
	max  int64
	used atomic.Int64
}

// NewBudget returns a budget of n units; n <= 0 lets nothing be taken.
func NewBudget(n int) *Budget { return &Budget{max: int64(max(n, 0))} }

// TryTake reserves n units if they fit and reports whether they did.
func (b *Budget) TryTake(n int) bool {
	for {
		used := b.used.Load()
		if used+int64(n) > b.max {
			return false
		}
		if b.used.CompareAndSwap(used, used+int64(n)) {
			return true
		}
	}
}

// Give returns n units taken by TryTake.
func (b *Budget) Give(n int) { b.used.Add(-int64(n)) }

// InUse is the number of units held now.
func (b *Budget) InUse() int { return int(b.used.Load()) }

// Max is the budget's size.
func (b *Budget) Max() int { return int(b.max) }
