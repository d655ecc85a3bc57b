package verdict

// Colour is how a class is drawn wherever it is drawn: Grafana's name for
// the colour (dashboards/) and the same colour as CSS hex (the status
// page), so a class looks alike on the dashboard and on the exporter's page.
type Colour struct {
	Grafana string // a named colour of Grafana's classic palette
	Hex     string // that colour's sRGB value, "#rrggbb"
}

// classColours: green for connected, warm colours for what the target's
// owners fix, cool ones for the network and DNS, yellow for the exporter's
// own failure. The hex values are Grafana's for those names.
var classColours = map[Class]Colour{
	Connected:    {"green", "#73bf69"},
	ClosedByPeer: {"orange", "#ff9830"},
	Refused:      {"red", "#f2495c"},
	Firewall:     {"purple", "#b877d9"},
	Unreachable:  {"dark-purple", "#8f3bb8"},
	DNSError:     {"blue", "#5794f2"},
	Error:        {"yellow", "#fade2a"},
}

// Colour is the class's colour; the zero Colour for an unknown class.
func (c Class) Colour() Colour { return classColours[c] }
