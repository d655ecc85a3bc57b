package deploy

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testenv"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the generated files (the chart's config and rules, the kustomize base) from their sources")

// checkGenerated fails unless out holds want byte for byte; with -update it
// writes want instead.
func checkGenerated(t *testing.T, out, source string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(out)
	if err == nil && bytes.Equal(got, want) {
		return
	}
	if *update {
		if err := os.WriteFile(out, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("deploy/%s differs from what deploy/generate.go makes of %s (or is missing: %v); run: cd deploy && go test . -update", out, source, err)
}

// The chart's copies of config.yml and of the rules file are current.
func TestGeneratedChartFilesAreCurrent(t *testing.T) {
	config := mustRead(t, ConfigFile)
	values := mustRead(t, ChartValuesFile)
	want, err := ChartValuesYAML(values, config)
	if err != nil {
		t.Fatal(err)
	}
	checkGenerated(t, ChartValuesFile, ConfigFile, want)
	want, err = ChartRulesYAML(mustRead(t, RulesFile))
	if err != nil {
		t.Fatal(err)
	}
	checkGenerated(t, ChartRulesFile, RulesFile, want)
}

// The kustomize base is the chart rendered by helm with
// ci/kustomize-values.yaml: no hand-kept copy of any object.
func TestKustomizeBaseIsTheChartRendered(t *testing.T) {
	testenv.NeedTools(t, "helm")
	want, err := KustomizeBaseYAML()
	if err != nil {
		t.Fatal(err)
	}
	checkGenerated(t, KustomizeBaseFile, "the chart", want)
}

// The chart's version and appVersion are the repository's VERSION.
func TestChartVersionIsTheRelease(t *testing.T) {
	version := strings.TrimSpace(string(mustRead(t, VersionFile)))
	var chart struct {
		Version    string `json:"version"`
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(mustRead(t, ChartDir+"/Chart.yaml"), &chart); err != nil {
		t.Fatal(err)
	}
	if chart.Version != version || chart.AppVersion != version {
		t.Errorf("Chart.yaml version %q appVersion %q, want VERSION's %q", chart.Version, chart.AppVersion, version)
	}
}

func TestChartValuesYAMLRejectsMissingMarkers(t *testing.T) {
	for name, in := range map[string]string{
		"no markers": "kind: Deployment\n",
		"no end":     configBegin + "config: {}\n",
	} {
		if _, err := ChartValuesYAML([]byte(in), []byte("modules: {}\n")); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	out, err := ChartValuesYAML([]byte("a: 1\n"+configBegin+"old\n"+configEnd+"b: 2\n"), []byte("# c\nmodules:\n\n  x: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "a: 1\n" + configBegin + "# The module file (blackbox_exporter's `modules`, plus target_policy).\nconfig:\n  # c\n  modules:\n\n    x: {}\n" + configEnd + "b: 2\n"; string(out) != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
