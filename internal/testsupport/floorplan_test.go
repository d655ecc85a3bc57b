package testsupport

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/tcp-verdict/tcp_verdict_exporter"

// Trees whose packages may use the harness: the harness itself, the
// end-to-end tests, and bench/, whose benchmark programs (and their target,
// bench/benchtarget) start exporters and labs with it. None of them is
// part of the exporter's binary.
var harnessUsers = []string{
	module + "/internal/testsupport",
	module + "/test",
	module + "/bench",
}

func under(pkg string, trees []string) bool {
	for _, t := range trees {
		if pkg == t || strings.HasPrefix(pkg, t+"/") {
			return true
		}
	}
	return false
}

// Production code never imports the test harness nor the benchmarks: for
// every non-test package of the module outside the harness, test/ and
// bench/, `go list -deps` (its imports, transitively, without test files)
// holds no package of internal/testsupport, test/ or bench/; on every
// operating system the exporter builds for, since files differ by GOOS.
func TestProductionNeverImportsTestSupport(t *testing.T) {
	for _, goos := range []string{"linux", "darwin", "freebsd", "windows"} {
		cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, module+"/...")
		cmd.Env = append(cmd.Environ(), "GOOS="+goos)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("GOOS=%s go list: %v\n%s", goos, err, stderr.String())
		}
		production := 0
		s := bufio.NewScanner(bytes.NewReader(out))
		s.Buffer(nil, 1<<20)
		for s.Scan() {
			fields := strings.Fields(s.Text())
			pkg, deps := fields[0], fields[1:]
			if under(pkg, harnessUsers) {
				continue
			}
			production++
			for _, d := range deps {
				if under(d, harnessUsers) {
					t.Errorf("GOOS=%s: %s depends on %s; production code must not import test support or benchmarks", goos, pkg, d)
				}
			}
		}
		if production < 10 || s.Err() != nil {
			t.Fatalf("GOOS=%s: only %d production packages listed (%v): go list did not list the module", goos, production, s.Err())
		}
	}
}

// internal/ holds the harness and nothing else of the binary's: a package
// there beside testsupport would put production code in the harness's
// room again.
func TestInternalHoldsOnlyTestSupport(t *testing.T) {
	out, err := exec.Command("go", "list", module+"/internal/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if !under(pkg, harnessUsers[:1]) {
			t.Errorf("%s is in internal/ beside the test harness; production packages live at the top level", pkg)
		}
	}
}
