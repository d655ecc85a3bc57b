// Package testenv decides whether a test that needs root or a tool may skip.
// On a laptop it skips with the reason; where TVE_REQUIRE_ALL=1 (set by
// .ci/run) a missing requirement fails the test instead, so CI always runs
// every test.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// Strict reports whether skips are forbidden.
func Strict() bool { return os.Getenv("TVE_REQUIRE_ALL") == "1" }

// Skip skips the test with reason, or fails it under TVE_REQUIRE_ALL=1.
func Skip(t testing.TB, reason string) {
	t.Helper()
	if Strict() {
		t.Fatalf("required test cannot run (TVE_REQUIRE_ALL=1): %s", reason)
	}
	t.Skip(reason)
}

// NeedRoot skips (or fails) unless the test runs as root.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "needs root (network namespaces, nftables); run the suite as root")
	}
}

// NeedTools skips (or fails) unless every named program is on PATH.
func NeedTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			Skip(t, "needs "+tool+" on PATH (Debian: see .ci/run for the packages)")
		}
	}
}
