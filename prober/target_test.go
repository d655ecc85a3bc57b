package prober

import (
	"net"
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	good := map[string]string{
		"127.0.0.1:22":          "127.0.0.1:22",
		"[::1]:443":             "[::1]:443",
		"localhost:9765":        "localhost:9765",
		"db-1.example.com:5432": "db-1.example.com:5432",
		"_srv.example.com.:53":  "_srv.example.com.:53",
		"[fe80::1%lo]:22":       "[fe80::1%lo]:22",
		"[fe80::1%1]:22":        "[fe80::1%1]:22", // an interface index: lo's, on Linux
	}
	for in, want := range good {
		tg, err := ParseTarget(in)
		if err != nil {
			t.Errorf("ParseTarget(%q): %v", in, err)
			continue
		}
		if tg.String() != want {
			t.Errorf("ParseTarget(%q) = %s, want %s", in, tg, want)
		}
	}
	bad := map[string]string{
		"":                                 "target is missing",
		"127.0.0.1":                        "has no port",
		"example.com":                      "has no port",
		"[::1]":                            "has no port",
		"::1:22":                           "not host:port",
		"127.0.0.1:0":                      "not a number from 1 to 65535",
		"127.0.0.1:65536":                  "not a number from 1 to 65535",
		"127.0.0.1:ssh":                    "not a number",
		"127.0.0.1:-1":                     "not a number",
		"tcp://host:22":                    "without a scheme",
		"bad host:22":                      "not a valid name",
		"-bad.example:22":                  "starts or ends with '-'",
		"a..b:22":                          "not a valid name",
		":22":                              "host is empty",
		"h\x00st:22":                       "not a valid name",
		strings.Repeat("a", 64) + ".com:1": "not a valid name",
		"0.0.0.0:22":                       "unspecified address",
		"[::]:22":                          "unspecified address",
		"224.0.0.1:22":                     "multicast address",
		"[ff02::1]:22":                     "multicast address",
		"255.255.255.255:22":               "broadcast address",
		// Issue 18, item 8: a zone names an interface of this host, on a
		// link-local address; whatever it holds, the error quotes it.
		"[fe80::1%nosuchif0]:22":             `zone "nosuchif0" names no interface of this host`,
		"[fe80::1%4000000]:22":               `zone "4000000" names no interface of this host`,
		"[fe80::1%lo\nTrying x]:22":          `zone "lo\nTrying x" is not an interface name or index`,
		"[fe80::1%\x1bred]:22":               `zone "\x1bred" is not an interface name or index`,
		"[fe80::1%averyveryverylongname]:22": `zone "averyveryverylongname" is not an interface name or index`,
		"[::1%lo]:22":                        `zone "lo": a zone only applies to a link-local address (fe80::/10), and ::1 is not one`,
		"[::1%1]:22":                         `zone "1": a zone only applies to a link-local address`,
		"[2001:db8::1%lo]:22":                "only applies to a link-local address",
	}
	for in, want := range bad {
		_, err := ParseTarget(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseTarget(%q) error = %v, want it to contain %q", in, err, want)
		}
		if err != nil && strings.ContainsAny(err.Error(), "\r\n\x1b") {
			t.Errorf("ParseTarget(%q) error %q holds control characters", in, err)
		}
	}
	// A numeric zone is the interface of that index, dialled by its name.
	tg, err := ParseTarget("[fe80::1%1]:22")
	if lo, ierr := net.InterfaceByIndex(1); ierr == nil && (err != nil || tg.IP.Zone() != lo.Name) {
		t.Errorf("ParseTarget([fe80::1%%1]:22) = %+v, %v: want the zone %s", tg, err, lo.Name)
	}
}

// No input makes ParseTarget panic, and what it accepts prints back as a
// target it accepts again.
func FuzzParseTarget(f *testing.F) {
	for _, seed := range []string{"127.0.0.1:22", "[::1]:443", "localhost:9765", "[fe80::1%lo]:22", "[fe80::1%1]:22", "a..b:1", ":0", "[", "x:65536", "tcp://h:1"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := ParseTarget(s)
		if err != nil {
			return
		}
		again, err := ParseTarget(tg.String())
		if err != nil || again != tg {
			t.Fatalf("ParseTarget(%q) = %+v, but its String %q parses to %+v, %v", s, tg, tg.String(), again, err)
		}
	})
}
