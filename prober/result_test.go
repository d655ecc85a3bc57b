package prober

import (
	"net/netip"
	"testing"
	"time"
)

func TestRoundDuration(t *testing.T) {
	cases := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{1234 * time.Nanosecond, "1µs"},
		{87400 * time.Nanosecond, "87µs"},
		{401 * time.Microsecond, "401µs"},
		{1100 * time.Microsecond, "1.1ms"},
		{4612 * time.Microsecond, "4.61ms"},
		{500093 * time.Microsecond, "500ms"},
		{999600 * time.Microsecond, "1s"},
		{1234567 * time.Microsecond, "1.23s"},
		{12345 * time.Millisecond, "12.3s"},
	}
	for _, c := range cases {
		if got := RoundDuration(c.d).String(); got != c.want {
			t.Errorf("RoundDuration(%d ns) = %s, want %s", c.d, got, c.want)
		}
	}
}

func TestHopRuns(t *testing.T) {
	a := netip.MustParseAddr("192.0.2.1")
	r := Result{Hops: []Hop{{TTL: 1}, {TTL: 2, Addr: a}, {TTL: 3}, {TTL: 4}, {TTL: 5}, {TTL: 6, Addr: a}, {TTL: 7}}}
	var got [][]int
	for _, run := range r.HopRuns() {
		var ttls []int
		for _, h := range run {
			ttls = append(ttls, h.TTL)
		}
		got = append(got, ttls)
	}
	want := [][]int{{1}, {2}, {3, 4, 5}, {6}, {7}}
	if len(got) != len(want) {
		t.Fatalf("HopRuns = %v, want %v", got, want)
	}
	for i := range want {
		if len(got[i]) != len(want[i]) || got[i][0] != want[i][0] || got[i][len(got[i])-1] != want[i][len(want[i])-1] {
			t.Errorf("HopRuns = %v, want %v", got, want)
		}
	}
	if (&Result{}).HopRuns() != nil {
		t.Error("HopRuns without a trace is not nil")
	}
}
