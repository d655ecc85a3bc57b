// Package netlab is test tooling for labs built from Linux network
// namespaces: create a namespace (and register its removal by name), run
// code or `ip`/`nft` inside it, set its sysctls. test/e2e's lab and
// test/vantage build on it; the exporter never imports it. Everything it
// creates is undone through a Cleanup the caller owns, so a test removes
// exactly what it made.
package netlab
