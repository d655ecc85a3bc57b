// Package statuspage tests the status page as a browser shows it: the real
// binary probes a few loopback targets, headless Chromium (Debian
// `chromium`) renders the page, the test checks the rendered tables and
// that the screenshot shows the verdicts in their class colours. The
// package has only tests:
//
//	go test ./test/statuspage/ -v
//	go test ./test/statuspage/ -update   # rewrite docs/status-page.png
package statuspage
