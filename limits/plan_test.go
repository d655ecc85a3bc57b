package limits

import (
	"fmt"
	"testing"

	"github.com/tcp-verdict/tcp_verdict_exporter/config"
)

func TestDerive(t *testing.T) {
	for _, tc := range []struct {
		nofile, inFlight, traces, conns int
		want                            Plan
	}{
		// 256: 224 after the reserve, 56 for traces, 28 for draining
		// sessions, (224-56-28-16)/3 = 41.
		{256, 0, 0, 0, Plan{MaxInFlight: 41, TraceSockets: 56, Draining: 28, MaxConnections: 57, NofileLimit: 256, DerivedInFlight: true}},
		{1024, 0, 0, 0, Plan{MaxInFlight: 201, TraceSockets: 248, Draining: 124, MaxConnections: 217, NofileLimit: 1024, DerivedInFlight: true}},
		// Below the reserve one probe still runs: its verdict is then the
		// exporter's own error, which is the truth.
		{10, 0, 0, 0, Plan{MaxInFlight: 1, TraceSockets: 0, MaxConnections: 17, NofileLimit: 10, DerivedInFlight: true}},
		// Flags win; the connections follow the probes.
		{256, 10, 20, 0, Plan{MaxInFlight: 10, TraceSockets: 20, Draining: 28, MaxConnections: 26, NofileLimit: 256}},
		{256, 10, 20, 100, Plan{MaxInFlight: 10, TraceSockets: 20, Draining: 28, MaxConnections: 100, NofileLimit: 256}},
		// Unknown or unlimited: counted as 2^20; the drains keep their own
		// bound.
		{0, 0, 0, 0, Plan{MaxInFlight: 262045, TraceSockets: 262136, Draining: DefaultMaxDraining, MaxConnections: 262061, DerivedInFlight: true}},
	} {
		t.Run(fmt.Sprint(tc.nofile, tc.inFlight, tc.traces, tc.conns), func(t *testing.T) {
			got := Derive(tc.nofile, tc.inFlight, tc.traces, tc.conns)
			if got != tc.want {
				t.Errorf("Derive = %+v, want %+v", got, tc.want)
			}
			if tc.inFlight == 0 && tc.traces == 0 && tc.conns == 0 && tc.nofile > reservedFiles+spareConns+filesPerSlot {
				// The accounting closes: what the limits may hold fits.
				held := reservedFiles + got.TraceSockets + got.Draining + got.MaxConnections + (filesPerSlot-1)*got.MaxInFlight
				if held > tc.nofile {
					t.Errorf("limits may hold %d descriptors, more than RLIMIT_NOFILE %d", held, tc.nofile)
				}
			}
		})
	}
}

// New gives every limit of the plan its own count, of the plan's size.
func TestNew(t *testing.T) {
	p := Plan{MaxInFlight: 3, TraceSockets: 5, Draining: 7, MaxConnections: 11}
	s := New(p)
	for _, c := range []struct {
		name      string
		max, want int
	}{
		{"slots", s.Slots.Max(), 3},
		{"trace sockets", s.TraceSockets.Max(), 5},
		{"drains", s.Drains.Max(), 7},
		{"connections", s.Conns.Max(), 11},
	} {
		if c.max != c.want {
			t.Errorf("%s: max %d, want %d", c.name, c.max, c.want)
		}
	}
	if s.Plan != p {
		t.Errorf("Plan = %+v, want %+v", s.Plan, p)
	}
	// Two sets share nothing.
	other := New(p)
	if !s.Slots.TryTake(3) || !other.Slots.TryTake(3) {
		t.Errorf("a second set's slots are taken by the first's")
	}
}

func TestProbeSlots(t *testing.T) {
	for _, tc := range []struct {
		addresses string
		max, want int
	}{
		{config.AddressesFirst, 8, 1},
		{config.AddressesAll, 1, 1},
		{config.AddressesAll, 2, 1},
		{config.AddressesAll, 3, 2},
		{config.AddressesAll, 8, 4},
		{config.AddressesAll, 64, 32},
	} {
		m := config.DefaultModule
		m.TCP.Addresses, m.TCP.MaxAddresses = tc.addresses, tc.max
		if got := ProbeSlots(&m); got != tc.want {
			t.Errorf("ProbeSlots(addresses %s, max_addresses %d) = %d, want %d", tc.addresses, tc.max, got, tc.want)
		}
	}
	// tcp.attempts counts each attempt's socket: 1 is what a probe always
	// took, 8 the four slots of 8 addresses.
	for attempts, want := range map[int]int{1: 1, 2: 1, 3: 2, 8: 4, 16: 8} {
		m := config.DefaultModule
		m.TCP.Attempts = attempts
		if got := ProbeSlots(&m); got != want {
			t.Errorf("ProbeSlots(attempts %d) = %d, want %d", attempts, got, want)
		}
	}
}
