package handler

import (
	"net/url"
	"strings"
	"testing"
)

// The fast reader must agree with r.URL.Query().Get on every query.
func checkProbeQuery(t *testing.T, raw string) {
	t.Helper()
	v, _ := url.ParseQuery(raw)
	want := probeQuery{target: v.Get("target"), module: v.Get("module"), debug: v.Get("debug"), expect: v.Get("expect")}
	if got := parseProbeQuery(raw); got != want {
		t.Errorf("parseProbeQuery(%q) = %+v, url.ParseQuery gives %+v", raw, got, want)
	}
}

var probeQueries = []string{
	"",
	"target=127.0.0.1:9&module=tcp_connect",
	"module=drop&target=10.251.0.2:9&debug=true",
	"target=host%3A80&module=a%20b",
	"target=a+b:1",
	"target=first:1&target=second:2",
	"target=bad%zz:1&target=good:1", // a bad escape is skipped, the next wins
	"target=a:1;b&target=c:1",       // a semicolon skips its pair
	"tar%67et=x:1",                  // keys are unescaped too
	"t%zzarget=x:1&target=y:1",
	"target&module=&debug",
	"&&target=x:1&&",
	"=x&target==x:1",
	"debug=1&debug=false",
	"target=x:1&expect=blocked&expect=reachable",
	"target=x:1&expect=firewall%2Cunreachable",
	"target=x:1&" + strings.Repeat("a=b&", 20) + "module=m", // many pairs: url.ParseQuery itself
	strings.Repeat("&", 9) + "target=x:1",
}

func TestParseProbeQuery(t *testing.T) {
	for _, raw := range probeQueries {
		checkProbeQuery(t, raw)
	}
}

func FuzzParseProbeQuery(f *testing.F) {
	for _, raw := range probeQueries {
		f.Add(raw)
	}
	f.Fuzz(checkProbeQuery)
}
