// Package deploy checks what this repository ships for Kubernetes and
// Grafana against those projects' own Go types: every manifest in
// kubernetes/ is strictly decoded into the Kubernetes and Prometheus
// Operator types, every dashboard in ../dashboards into grafana-foundation-sdk's.
// It is its own Go module so that the exporter's go.mod stays lean.
//
// Two manifests copy another file of this repository and are generated here,
// so that file stays the one source:
//
//	kubernetes/configmap.yaml      from ../config.yml
//	kubernetes/prometheusrule.yaml from ../mixin/alerts/tcp_verdict.rules.yml
//
// Regenerate them after changing their source:
//
//	cd deploy && go test . -update
package deploy

import (
	"bytes"
	"fmt"

	"gopkg.in/yaml.v3"
)

// The generated manifests and their sources, relative to this folder.
const (
	ConfigFile         = "../config.yml"
	RulesFile          = "../mixin/alerts/tcp_verdict.rules.yml"
	ConfigMapFile      = "kubernetes/configmap.yaml"
	PrometheusRuleFile = "kubernetes/prometheusrule.yaml"
)

// ConfigKey is the ConfigMap key, and so the file name under the mount path
// that the Deployment passes to --config.file.
const ConfigKey = "config.yml"

// Name is every object's name and the app.kubernetes.io/name label.
const Name = "tcp-verdict-exporter"

// ConfigMapName is the ConfigMap the Deployment mounts.
const ConfigMapName = Name + "-config"

func header(source string) string {
	return "# Generated from " + source[len("../"):] + " by deploy/generate.go: cd deploy && go test . -update\n" +
		"# Do not edit by hand.\n"
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: s} }

func mapping(kv ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Content: kv}
}

func metadata(name string) *yaml.Node {
	return mapping(
		str("name"), str(name),
		str("labels"), mapping(str("app.kubernetes.io/name"), str(Name)),
	)
}

func render(source string, doc *yaml.Node) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(header(source))
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encoding the manifest generated from %s: %w", source, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encoding the manifest generated from %s: %w", source, err)
	}
	return buf.Bytes(), nil
}

// ConfigMapYAML wraps the exporter's config file, byte for byte, in the
// ConfigMap the Deployment mounts.
func ConfigMapYAML(config []byte) ([]byte, error) {
	value := str(string(config))
	value.Style = yaml.LiteralStyle
	return render(ConfigFile, mapping(
		str("apiVersion"), str("v1"),
		str("kind"), str("ConfigMap"),
		str("metadata"), metadata(ConfigMapName),
		str("data"), mapping(str(ConfigKey), value),
	))
}

// PrometheusRuleYAML wraps the rule groups of a Prometheus rules file in a
// Prometheus Operator PrometheusRule, keeping the groups as they are.
func PrometheusRuleYAML(rules []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(rules, &doc); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", RulesFile, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: not a YAML mapping", RulesFile)
	}
	top := doc.Content[0]
	var groups *yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		if key := top.Content[i].Value; key == "groups" {
			groups = top.Content[i+1]
		} else {
			return nil, fmt.Errorf("%s: unexpected top-level key %q (a rules file has only groups)", RulesFile, key)
		}
	}
	if groups == nil || groups.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s: no list of groups", RulesFile)
	}
	return render(RulesFile, mapping(
		str("apiVersion"), str("monitoring.coreos.com/v1"),
		str("kind"), str("PrometheusRule"),
		str("metadata"), metadata(Name),
		str("spec"), mapping(str("groups"), groups),
	))
}
