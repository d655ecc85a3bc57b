package handler

import (
	"net/http"

	"github.com/prometheus/exporter-toolkit/web"
)

// LandingPage is the page at /, with a probe form.
func LandingPage(versionInfo string) (http.Handler, error) {
	return web.NewLandingPage(web.LandingConfig{
		Name:        "TCP Verdict Exporter",
		Description: "Dials TCP targets and tells, as telnet would, why a port cannot be reached: connected, closed by peer, refused, firewall, unreachable, DNS error.",
		Version:     versionInfo,
		Form: web.LandingForm{
			Action: "/probe",
			Inputs: []web.LandingFormInput{
				{Label: "Target", Type: "text", Name: "target", Placeholder: "host:port", Value: "127.0.0.1:22"},
				{Label: "Module", Type: "text", Name: "module", Placeholder: "module", Value: "tcp"},
				{Label: "Debug", Type: "checkbox", Name: "debug", Value: "true"},
			},
		},
		Links: []web.LandingLinks{
			{Address: "/metrics", Text: "Metrics", Description: "The exporter's own metrics"},
			{Address: "/probe?target=127.0.0.1:22&debug=true", Text: "Probe 127.0.0.1:22 with debug output", Description: "A transcript, the verdict explained, and the metrics"},
			{Address: "/-/healthy", Text: "Health", Description: "Liveness check"},
		},
	})
}
