// Package alerting tests the shipped alert rules, Alertmanager routing and
// dashboard queries end to end on loopback: the exporter built from this
// tree probes loopback targets, the Debian `prometheus` scrapes it and
// evaluates mixin/alerts/tcp_verdict.rules.yml, and `prometheus-alertmanager`,
// configured from mixin/alerts/alertmanager.example.yml, routes each alert by its
// `team` label to a webhook receiver the test runs. One target is a
// listener whose full accept queue drops SYNs, probed with a `tcp.trace`
// module: its firewall verdict reaches the network team, and its path trace
// (which runs on loopback too) gives the dashboard's path-trace panel data,
// so every dashboard query is checked to return some. Another is a silent
// listener: connected, and also probed by modules that expect a banner and
// a TLS handshake it never sends, whose failed probes page the service's
// team. One closes every other connection: probed with 4 attempts
// (tcp.attempts), it is intermittent, and pages the network team as
// TCPVerdictIntermittent alone. TestExpectationsPerVantage proves expected
// verdicts (issue 17) in the vantage lab: file_sd files with expectations
// per vantage, which alerts reach which team, and the check command in a
// change window. TestIntermittentPaths proves issue 16 in a namespace lab
// (docs/intermittent.md). The package has only tests:
//
//	go test ./test/alerting/ -v
package alerting
