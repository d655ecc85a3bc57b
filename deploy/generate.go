// Package deploy checks what this repository ships for Kubernetes and
// Grafana against those projects' own Go types: the Helm chart in helm/ is
// linted and rendered by helm for its default values and for each values
// file in its ci/ folder, and everything rendered, like every manifest in
// kubernetes/, is strictly decoded into the Kubernetes and Prometheus
// Operator types; every dashboard in ../dashboards is decoded into
// grafana-foundation-sdk's. It is its own Go module so that the exporter's
// go.mod stays lean.
//
// The chart is the one source of the Kubernetes objects; what copies
// another file of this repository is generated here, so that file stays
// the one source:
//
//	helm/tcp-verdict-exporter/values.yaml, its config block     from ../config.yml
//	helm/tcp-verdict-exporter/files/tcp_verdict.rules.yml      from ../mixin/alerts/tcp_verdict.rules.yml
//	kubernetes/tcp-verdict-exporter.yaml (the kustomize base)  helm template of the chart with ci/kustomize-values.yaml
//
// Regenerate them after changing their source:
//
//	cd deploy && go test . -update
package deploy

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// The generated files and their sources, relative to this folder.
const (
	ConfigFile          = "../config.yml"
	RulesFile           = "../mixin/alerts/tcp_verdict.rules.yml"
	VersionFile         = "../VERSION"
	ChartDir            = "helm/tcp-verdict-exporter"
	ChartValuesFile     = ChartDir + "/values.yaml"
	ChartRulesFile      = ChartDir + "/files/tcp_verdict.rules.yml"
	KustomizeValuesFile = ChartDir + "/ci/kustomize-values.yaml"
	KustomizeBaseFile   = "kubernetes/tcp-verdict-exporter.yaml"
)

// ConfigKey is the ConfigMap key, and so the file name under the mount path
// that the workload passes to --config.file.
const ConfigKey = "config.yml"

// Name is the chart's name: every object's name and app.kubernetes.io/name
// when the release has that name too, as the kustomize base's has.
const Name = "tcp-verdict-exporter"

// KustomizeNamespace is the namespace the kustomize base is rendered for
// (kustomization.yaml sets it again).
const KustomizeNamespace = "monitoring"

func generated(source string) string {
	return "# Generated from " + strings.TrimPrefix(source, "../") + " by deploy/generate.go: cd deploy && go test . -update\n" +
		"# Do not edit by hand.\n"
}

// The markers around the generated config block of the chart's values.
const (
	configBegin = "# BEGIN config: generated from config.yml by deploy/generate.go (cd deploy && go test . -update); do not edit by hand.\n"
	configEnd   = "# END config\n"
)

// ChartValuesYAML puts the exporter's config file, comments and all, as the
// `config` value of the chart's values between its markers.
func ChartValuesYAML(values, config []byte) ([]byte, error) {
	before, rest, ok := bytes.Cut(values, []byte(configBegin))
	if !ok {
		return nil, fmt.Errorf("%s: no line %q", ChartValuesFile, strings.TrimSpace(configBegin))
	}
	_, after, ok := bytes.Cut(rest, []byte(configEnd))
	if !ok {
		return nil, fmt.Errorf("%s: no line %q after the BEGIN line", ChartValuesFile, strings.TrimSpace(configEnd))
	}
	var b bytes.Buffer
	b.Write(before)
	b.WriteString(configBegin)
	b.WriteString("# The module file (blackbox_exporter's `modules`, plus target_policy).\nconfig:\n")
	for _, line := range strings.SplitAfter(string(config), "\n") {
		if strings.TrimSpace(line) != "" {
			b.WriteString("  ")
		}
		b.WriteString(line)
	}
	if !bytes.HasSuffix(b.Bytes(), []byte("\n")) {
		b.WriteByte('\n')
	}
	b.WriteString(configEnd)
	b.Write(after)
	return b.Bytes(), nil
}

// ChartRulesYAML is the chart's copy of the rules file (a chart reads only
// its own files).
func ChartRulesYAML(rules []byte) ([]byte, error) {
	return append([]byte(generated(RulesFile)), rules...), nil
}

// HelmTemplate renders the chart as `helm template` does, with the release
// named as the chart, in namespace, with the values files given.
func HelmTemplate(namespace string, valuesFiles ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"template", Name, ChartDir, "--namespace", namespace}
	for _, f := range valuesFiles {
		args = append(args, "--values", f)
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "helm", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// KustomizeBaseYAML is the kustomize base: the chart rendered with
// ci/kustomize-values.yaml.
func KustomizeBaseYAML() ([]byte, error) {
	out, err := HelmTemplate(KustomizeNamespace, KustomizeValuesFile)
	if err != nil {
		return nil, err
	}
	header := "# Rendered from the Helm chart deploy/" + ChartDir + " with " + strings.TrimPrefix(KustomizeValuesFile, ChartDir+"/") +
		"\n# by deploy/generate.go: cd deploy && go test . -update\n# Do not edit by hand: change the chart or those values.\n"
	return append([]byte(header), out...), nil
}
