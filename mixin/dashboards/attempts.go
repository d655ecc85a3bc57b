package dashboards

import (
	"fmt"

	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// intermittentTable lists the probes whose attempts (tcp.attempts > 1)
// ended in more than one class, one row per target and a column per
// class with its count, so a split path shows at a glance; a probe whose
// attempts agree is not listed (docs/intermittent.md).
func (g builder) intermittentTable() Panel {
	mixed := fmt.Sprintf("tcp_verdict_attempts{%s} > 0\n  and ignoring (class)\n(count without (class) (tcp_verdict_attempts{%s} > 0) > 1)", g.probeSel, g.probeSel)
	return Panel{Type: "table", Title: "Intermittent: attempts that disagree (tcp.attempts > 1)",
		Description: "Targets whose probe made several connection attempts (`tcp.attempts`), each from its own source port, that ended in more than one class: " +
			verdict.Intermittent().Meaning + ". One column per class with its count of attempts. The verdict is the failing attempts' class; the alert is TCPVerdictIntermittent.",
		Targets: []Target{{Expr: mixed, Instant: true, Format: "table"}},
		FieldConfig: &FieldConfig{
			Defaults:  map[string]any{"custom": map[string]any{"filterable": true}},
			Overrides: []Override{},
		},
		Options: map[string]any{"showHeader": true, "sortBy": []map[string]any{{"displayName": "instance"}}},
		Transformations: []map[string]any{
			{"id": "groupingToMatrix", "options": map[string]any{"columnField": "class", "rowField": "instance", "valueField": "Value", "emptyValue": "zero"}},
		},
	}
}

// attemptsOverTime shows each target's attempts by class over time: bars
// that split between classes mark an intermittent path.
func (g builder) attemptsOverTime() Panel {
	return Panel{Type: "timeseries", Title: "Attempts by class",
		Description: "tcp_verdict_attempts: how many of each probe's attempts (`tcp.attempts` > 1) ended in each class. All in one class is a steady verdict; a split is an intermittent path.",
		Targets:     []Target{{Expr: fmt.Sprintf("tcp_verdict_attempts{%s} > 0", g.probeSel), LegendFormat: "{{instance}} {{class}}", Range: true}},
		FieldConfig: &FieldConfig{Defaults: map[string]any{"min": 0, "decimals": 0,
			"custom": map[string]any{"drawStyle": "bars", "fillOpacity": 60, "stacking": map[string]any{"mode": "normal", "group": "A"}}},
			Overrides: classSuffixOverrides()},
	}
}

// classSuffixOverrides colours a series by its class, the last word of its
// legend ("{{instance}} {{class}}"), as classOverrides does by name.
func classSuffixOverrides() []Override {
	var o []Override
	for _, c := range verdict.Classes {
		o = append(o, Override{
			Matcher:    map[string]any{"id": "byRegexp", "options": ".* " + string(c.Class) + "$"},
			Properties: []map[string]any{{"id": "color", "value": map[string]any{"mode": "fixed", "fixedColor": c.Class.Colour().Grafana}}},
		})
	}
	return o
}

// synRetransmits shows the SYNs sent again before a handshake completed,
// over time: lost SYNs or SYN-ACKs, each a retransmission timeout (1 s,
// then 2 s, ...) added to the connect phase.
func (g builder) synRetransmits() Panel {
	return Panel{Type: "timeseries", Title: "SYN retransmissions (lost SYNs)",
		Description: "tcp_syn_retransmits: SYNs the kernel sent again before the handshake completed (tcp_info, summed over a probe's attempts). Above 0, " +
			verdict.LostSYN().Meaning + ", and the connect phase took a retransmission timeout longer (1 s for the first).",
		Targets:     []Target{{Expr: fmt.Sprintf("tcp_syn_retransmits{%s}", g.probeSel), LegendFormat: "{{instance}}", Range: true}},
		FieldConfig: &FieldConfig{Defaults: map[string]any{"min": 0, "decimals": 0, "custom": map[string]any{"drawStyle": "bars", "fillOpacity": 60}}, Overrides: []Override{}},
	}
}
