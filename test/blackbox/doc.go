// Package blackbox runs blackbox_exporter's real binary (Debian's
// prometheus-blackbox-exporter, unpacked by scripts/blackbox-exporter.sh,
// not installed) beside the exporter, both inside one network namespace
// with its own /etc/hosts and a test DNS server, probes the same loopback
// targets through both /probe endpoints with equivalent modules, and
// compares every series both emit: presence, labels and value. The
// package has only tests:
//
//	go test ./test/blackbox/ -v
package blackbox
