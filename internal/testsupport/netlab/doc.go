// Package netlab is test tooling for labs built from Linux network
// namespaces: create a namespace (and register its removal by name), run
// code or `ip`/`nft` inside it, set its sysctls, start processes in it.
// test/e2e's lab and test/alerting's vantage lab build on it; the exporter
// never imports it. Everything it creates is undone through a Cleanup the
// caller owns, or by the test's cleanups, so a test removes exactly what
// it made.
package netlab
