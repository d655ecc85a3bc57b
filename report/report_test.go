package report

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

func TestPath(t *testing.T) {
	r1, target := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.7")
	te := func(ttl int) prober.Hop {
		return prober.Hop{TTL: ttl, Addr: r1, RTT: time.Millisecond, Reason: verdict.TimeExceeded,
			ICMP: &verdict.ICMP{Type: 11, Offender: r1}}
	}
	cases := []struct {
		hops []prober.Hop
		want string
	}{
		{nil, "no trace ran"},
		{[]prober.Hop{{TTL: 1}, {TTL: 2}}, "no hop answered from TTL 1 to 2"},
		{[]prober.Hop{te(1), {TTL: 2}, {TTL: 3}}, "last seen at hop 1, 192.0.2.1; nothing answered from hop 2 to 3"},
		{[]prober.Hop{te(1), te(2)}, "last seen at hop 2, 192.0.2.1, the trace's last TTL"},
		{[]prober.Hop{te(1), {TTL: 2, Addr: r1, Reason: verdict.AdminProhibited, ICMP: &verdict.ICMP{Type: 3, Code: 13, Offender: r1}}},
			"hop 2, 192.0.2.1, stops the SYN: admin-prohibited (icmp 3/13)"},
		{[]prober.Hop{te(1), {TTL: 2, Addr: target, Reason: verdict.SynAck, Reached: true}},
			"hop 2 is the target 198.51.100.7; it answered the trace: syn-ack (the target)"},
	}
	for _, c := range cases {
		r := prober.Result{Hops: c.hops}
		if got := Path(&r); !strings.HasPrefix(got, c.want) {
			t.Errorf("Path(%d hops) = %q, want it to start %q", len(c.hops), got, c.want)
		}
	}
	// A silent run takes one row of the table.
	r := prober.Result{Hops: []prober.Hop{te(1), {TTL: 2}, {TTL: 3}, {TTL: 4}}}
	rows := HopRows(&r)
	if len(rows) != 3 || rows[2][0] != "2-4" || rows[2][1] != "*" || rows[2][3] != "no answer" {
		t.Errorf("HopRows = %q, want header, hop 1, then one row for 2-4", rows)
	}
}

func TestColumns(t *testing.T) {
	rows := [][]string{{"TTL", "RTT", "ANSWER"}, {"1", "1.1ms", "time-exceeded"}, {"2-16", "", "no answer"}}
	got := Columns(rows, func(n, c int, cell string) string {
		if n == 1 && c == 1 {
			return "[" + cell + "]" // styling takes no width
		}
		return cell
	})
	want := []string{
		"TTL   RTT    ANSWER",
		"1     [1.1ms]  time-exceeded",
		"2-16         no answer",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Columns =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if Key("ask") != "ask      " {
		t.Errorf("Key(ask) = %q, want it padded to %d", Key("ask"), KeyWidth)
	}
}
