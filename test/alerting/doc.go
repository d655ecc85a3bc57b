// Package alerting tests the shipped alert rules, Alertmanager routing and
// dashboard queries end to end on loopback: the exporter built from this
// tree probes loopback targets, the Debian `prometheus` scrapes it and
// evaluates alerts/tcp_verdict.rules.yml, and `prometheus-alertmanager`,
// configured from alerts/alertmanager.example.yml, routes each alert by its
// `team` label to a webhook receiver the test runs. The package has only
// tests:
//
//	go test ./test/alerting/ -v
package alerting
