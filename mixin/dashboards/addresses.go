package dashboards

import "fmt"

// addressTable lists the verdict of every address of each name, for modules
// that dial them all (tcp.addresses: all); other targets have no such
// series and are not listed.
func (g builder) addressTable() Panel {
	return Panel{Type: "table", Title: "Every address of a name (tcp.addresses: all)",
		Description: "For modules with `tcp.addresses: all`: the verdict of each address of the target's name (at most `tcp.max_addresses`). " +
			"The target's own verdict is connected when any address connects; a failing address here is what a client that tries only it, or gives up on it, meets.",
		Targets: []Target{{Expr: fmt.Sprintf("tcp_address_verdict_info{%s}", g.probeSel), Instant: true, Format: "table"}},
		FieldConfig: &FieldConfig{
			Defaults:  map[string]any{"custom": map[string]any{"filterable": true}},
			Overrides: []Override{classColumn()},
		},
		Options: map[string]any{"showHeader": true, "sortBy": []map[string]any{{"displayName": "instance"}}},
		Transformations: []map[string]any{{"id": "organize", "options": map[string]any{
			"excludeByName": map[string]any{"Time": true, "Value": true, "__name__": true},
			"indexByName":   map[string]any{"instance": 0, "address": 1, "class": 2, "reason": 3, "responder": 4, "job": 5, "module": 6},
		}}},
	}
}
