package deploy

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated manifests in kubernetes/ from their sources")

// The generated manifests are their generator's output from the current
// sources, byte for byte.
func TestGeneratedManifestsAreCurrent(t *testing.T) {
	for _, tc := range []struct {
		out, source string
		gen         func([]byte) ([]byte, error)
	}{
		{ConfigMapFile, ConfigFile, ConfigMapYAML},
		{PrometheusRuleFile, RulesFile, PrometheusRuleYAML},
	} {
		src, err := os.ReadFile(tc.source)
		if err != nil {
			t.Fatal(err)
		}
		want, err := tc.gen(src)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(tc.out)
		if err == nil && bytes.Equal(got, want) {
			continue
		}
		if *update {
			if err := os.WriteFile(tc.out, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Errorf("deploy/%s differs from what deploy/generate.go makes of %s (or is missing: %v); run: cd deploy && go test . -update", tc.out, strings.TrimPrefix(tc.source, "../"), err)
	}
}

func TestPrometheusRuleYAMLRejectsBadInput(t *testing.T) {
	for name, in := range map[string]string{
		"not yaml":      "groups: [",
		"not a mapping": "- a\n- b\n",
		"extra key":     "groups: []\nfoo: 1\n",
		"no groups":     "{}\n",
		"groups scalar": "groups: 1\n",
	} {
		if _, err := PrometheusRuleYAML([]byte(in)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
