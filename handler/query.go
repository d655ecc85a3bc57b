package handler

import (
	"net/url"
	"strings"
)

// probeQuery is what /probe reads from its query string.
type probeQuery struct {
	target, module, debug, expect string
}

// parseProbeQuery reads /probe's parameters as r.URL.Query().Get would:
// the first value of each wins, and a pair url.ParseQuery skips (a
// semicolon, a bad escape) is skipped. It builds no map: in a burst no
// collection runs before the probes end, so every request's garbage is
// resident until then (docs/performance.md, "A burst of probes in flight"). A
// query of more than maxFastPairs pairs goes to url.ParseQuery itself, and
// with it its limit on the number of pairs.
func parseProbeQuery(raw string) probeQuery {
	var q probeQuery
	if strings.Count(raw, "&") >= maxFastPairs {
		v, _ := url.ParseQuery(raw) // what r.URL.Query() does
		return probeQuery{target: v.Get("target"), module: v.Get("module"), debug: v.Get("debug"), expect: v.Get("expect")}
	}
	var seenTarget, seenModule, seenDebug, seenExpect bool
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" || strings.Contains(pair, ";") {
			continue
		}
		key, value, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(key)
		if err != nil {
			continue
		}
		var dst *string
		var seen *bool
		switch key {
		case "target":
			dst, seen = &q.target, &seenTarget
		case "module":
			dst, seen = &q.module, &seenModule
		case "debug":
			dst, seen = &q.debug, &seenDebug
		case "expect":
			dst, seen = &q.expect, &seenExpect
		default:
			continue
		}
		if *seen {
			continue
		}
		if value, err = url.QueryUnescape(value); err != nil {
			continue
		}
		*dst, *seen = value, true
	}
	return q
}

// maxFastPairs is the number of pairs beyond which parseProbeQuery leaves
// the work to url.ParseQuery (8 '&' make 9 pairs): a few more than the
// four /probe reads.
const maxFastPairs = 8
