package history

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// newAt is a History whose clock advances a second per probe from t0.
func newAt(limit int) *History {
	h := New(limit)
	if h != nil {
		tick := t0
		h.now = func() time.Time { tick = tick.Add(time.Second); return tick }
	}
	return h
}

func result(target string, c verdict.Class) *prober.Result {
	t, err := prober.ParseTarget(target)
	if err != nil {
		panic(err) // the tests' targets are valid
	}
	return &prober.Result{Target: t, Class: c}
}

func ids(es []Entry) []uint64 {
	var out []uint64
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

// The ring keeps the last limit probes, newest first, and Get finds
// exactly those.
func TestRing(t *testing.T) {
	cases := []struct {
		limit, adds int
		recent      []uint64
	}{
		{limit: 3, adds: 0, recent: nil},
		{limit: 3, adds: 2, recent: []uint64{2, 1}},
		{limit: 3, adds: 3, recent: []uint64{3, 2, 1}},
		{limit: 3, adds: 4, recent: []uint64{4, 3, 2}},
		{limit: 3, adds: 7, recent: []uint64{7, 6, 5}},
		{limit: 1, adds: 5, recent: []uint64{5}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("limit %d, %d probes", tc.limit, tc.adds), func(t *testing.T) {
			h := newAt(tc.limit)
			for i := 1; i <= tc.adds; i++ {
				if id := h.Add("tcp", result(fmt.Sprintf("127.0.0.1:%d", i), verdict.Refused)); id != uint64(i) {
					t.Fatalf("probe %d got ID %d", i, id)
				}
			}
			recent := h.Recent()
			if got := ids(recent); fmt.Sprint(got) != fmt.Sprint(tc.recent) {
				t.Fatalf("Recent IDs %v, want %v", got, tc.recent)
			}
			for _, e := range recent {
				if want := fmt.Sprintf("127.0.0.1:%d", e.ID); e.Result.Target.String() != want || e.Module != "tcp" {
					t.Errorf("entry %d holds %s/%s, want %s/tcp", e.ID, e.Result.Target, e.Module, want)
				}
				if want := t0.Add(time.Duration(e.ID) * time.Second); !e.Time.Equal(want) {
					t.Errorf("entry %d at %s, want %s", e.ID, e.Time, want)
				}
			}
			kept := map[uint64]bool{}
			for _, id := range tc.recent {
				kept[id] = true
			}
			for id := uint64(0); id <= uint64(tc.adds)+2; id++ {
				e, ok := h.Get(id)
				if ok != kept[id] {
					t.Errorf("Get(%d) found %v, want %v", id, ok, kept[id])
				}
				if ok && e.ID != id {
					t.Errorf("Get(%d) returned entry %d", id, e.ID)
				}
			}
		})
	}
}

// "Since" moves only when the class changes; each module's view of a
// target is its own; the least recently probed target goes first.
func TestCurrent(t *testing.T) {
	type probe struct {
		target, module string
		class          verdict.Class
	}
	type want struct {
		target, module string
		class          verdict.Class
		since, last    int // probe numbers (1-based), i.e. seconds after t0
	}
	cases := []struct {
		name   string
		limit  int
		probes []probe
		want   []want // most recently probed first
	}{
		{
			name:   "steady verdict keeps its since",
			limit:  5,
			probes: []probe{{"127.0.0.1:1", "tcp", verdict.Refused}, {"127.0.0.1:1", "tcp", verdict.Refused}, {"127.0.0.1:1", "tcp", verdict.Refused}},
			want:   []want{{"127.0.0.1:1", "tcp", verdict.Refused, 1, 3}},
		},
		{
			name:  "a change moves since",
			limit: 5,
			probes: []probe{{"127.0.0.1:1", "tcp", verdict.Refused}, {"127.0.0.1:1", "tcp", verdict.Connected},
				{"127.0.0.1:1", "tcp", verdict.Connected}},
			want: []want{{"127.0.0.1:1", "tcp", verdict.Connected, 2, 3}},
		},
		{
			name:   "modules are separate",
			limit:  5,
			probes: []probe{{"127.0.0.1:1", "tcp", verdict.Connected}, {"127.0.0.1:1", "tls", verdict.ClosedByPeer}},
			want:   []want{{"127.0.0.1:1", "tls", verdict.ClosedByPeer, 2, 2}, {"127.0.0.1:1", "tcp", verdict.Connected, 1, 1}},
		},
		{
			name:  "least recently probed evicted",
			limit: 2,
			probes: []probe{{"127.0.0.1:1", "tcp", verdict.Refused}, {"127.0.0.1:2", "tcp", verdict.Refused},
				{"127.0.0.1:1", "tcp", verdict.Refused}, {"127.0.0.1:3", "tcp", verdict.Firewall}},
			want: []want{{"127.0.0.1:3", "tcp", verdict.Firewall, 4, 4}, {"127.0.0.1:1", "tcp", verdict.Refused, 1, 3}},
		},
		{
			name:  "an evicted target starts afresh",
			limit: 1,
			probes: []probe{{"127.0.0.1:1", "tcp", verdict.Refused}, {"127.0.0.1:2", "tcp", verdict.Refused},
				{"127.0.0.1:1", "tcp", verdict.Refused}},
			want: []want{{"127.0.0.1:1", "tcp", verdict.Refused, 3, 3}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newAt(tc.limit)
			for _, p := range tc.probes {
				h.Add(p.module, result(p.target, p.class))
			}
			got := h.Current()
			if len(got) != len(tc.want) {
				t.Fatalf("%d current verdicts, want %d: %+v", len(got), len(tc.want), got)
			}
			for i, w := range tc.want {
				g := got[i]
				sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
				if g.Target.String() != w.target || g.Module != w.module || g.Class != w.class ||
					!g.Since.Equal(sec(w.since)) || !g.Last.Equal(sec(w.last)) || g.LastID != uint64(w.last) {
					t.Errorf("[%d] = %s/%s %s since %s last %s (ID %d), want %+v", i, g.Target, g.Module, g.Class,
						g.Since.Sub(t0), g.Last.Sub(t0), g.LastID, w)
				}
			}
		})
	}
}

// A limit of 0 keeps nothing and every method still answers.
func TestDisabled(t *testing.T) {
	h := New(0)
	if id := h.Add("tcp", result("127.0.0.1:1", verdict.Refused)); id != 0 {
		t.Errorf("Add on a disabled history returned ID %d", id)
	}
	if _, ok := h.Get(1); ok || h.Recent() != nil || h.Current() != nil || h.Limit() != 0 {
		t.Error("a disabled history holds something")
	}
}

// Concurrent probes and readers (run with -race): every ID is handed out
// once and the bounds hold.
func TestConcurrent(t *testing.T) {
	const writers, each, limit = 8, 200, 50
	h := New(limit)
	var wg sync.WaitGroup
	seen := make(chan uint64, writers*each)
	for w := range writers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range each {
				seen <- h.Add("tcp", result(fmt.Sprintf("127.0.0.%d:%d", w+1, i%70+1), verdict.Connected))
			}
		}()
		go func() {
			defer wg.Done()
			for range each {
				if len(h.Recent()) > limit || len(h.Current()) > limit {
					t.Error("over the limit")
					return
				}
				h.Get(uint64(w))
			}
		}()
	}
	wg.Wait()
	close(seen)
	got := map[uint64]bool{}
	for id := range seen {
		if got[id] {
			t.Fatalf("ID %d handed out twice", id)
		}
		got[id] = true
	}
	if len(got) != writers*each || len(h.Recent()) != limit || len(h.Current()) != limit {
		t.Errorf("%d IDs, %d recent, %d current; want %d, %d, %d", len(got), len(h.Recent()), len(h.Current()), writers*each, limit, limit)
	}
	if r := h.Recent(); r[0].ID != writers*each || r[limit-1].ID != writers*each-limit+1 {
		t.Errorf("recent runs from %d to %d", r[0].ID, r[limit-1].ID)
	}
}

// BenchmarkAdd is the history's cost on /probe's hot path: one Add per
// probe (compare with BenchmarkProbeHandler's tens of µs per probe). The
// targets cycle through more than the limit, so eviction is measured too.
func BenchmarkAdd(b *testing.B) {
	h := New(DefaultLimit)
	rs := make([]*prober.Result, 2*DefaultLimit)
	for i := range rs {
		rs[i] = result(fmt.Sprintf("127.0.0.1:%d", i+1), verdict.Connected)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Add("tcp", rs[i%len(rs)])
	}
}

// BenchmarkAddParallel is Add under contention from concurrent probes.
func BenchmarkAddParallel(b *testing.B) {
	h := New(DefaultLimit)
	r := result("127.0.0.1:1", verdict.Connected)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.Add("tcp", r)
		}
	})
}
