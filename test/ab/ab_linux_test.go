//go:build linux

package ab

import (
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testenv"
)

// cpuLine is the summary's line for one build: its CPU µs per probe.
var cpuLine = regexp.MustCompile(`(?m)^  ([AB])  CPU per probe +([0-9.]+) µs +([0-9]+) probes/s`)

// The A/B script builds the baseline and this tree, runs one short round
// against each and prints both builds' figures and their ratio.
func TestABSmoke(t *testing.T) {
	testenv.NeedTools(t, "git", "go", "wrk")
	if err := exec.Command("git", "-C", "../..", "rev-parse", "--verify", "-q", "800ce9f^{commit}").Run(); err != nil {
		testenv.Skip(t, "the baseline commit 800ce9f is not in this checkout (a shallow clone?)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "../../scripts/ab.sh")
	cmd.Env = append(cmd.Environ(), "SMOKE=1")
	out, err := cmd.CombinedOutput()
	t.Logf("scripts/ab.sh:\n%s", out)
	if err != nil {
		t.Fatalf("scripts/ab.sh SMOKE=1: %v", err)
	}
	got := map[string]float64{}
	for _, m := range cpuLine.FindAllStringSubmatch(string(out), -1) {
		us, _ := strconv.ParseFloat(m[2], 64)
		rate, _ := strconv.Atoi(m[3])
		if us <= 0 || rate <= 0 {
			t.Errorf("build %s: %s µs per probe at %s probes/s; both must be positive", m[1], m[2], m[3])
		}
		got[m[1]] = us
	}
	if len(got) != 2 {
		t.Fatalf("the summary has CPU figures for %d builds, want A and B", len(got))
	}
	if !regexp.MustCompile(`B/A CPU per probe +[0-9.]+ over all rounds`).Match(out) {
		t.Error("the summary has no B/A ratio")
	}
}
