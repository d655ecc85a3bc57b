package check

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Target file labels the command reads: the module and the expected
// verdict of the entry's targets. A file_sd file for Prometheus carries the
// same labels, which its relabelling turns into the probe's parameters
// (docs/expectations.md, "Prometheus wiring"); a file may instead set the
// parameters themselves (__param_module, __param_expect), which Prometheus
// sends as they are. The plain label wins, as a relabel rule copying it to
// the parameter would.
const (
	LabelModule = "module"
	LabelExpect = "expect"
	paramPrefix = "__param_"
)

// fileTarget is one target of a target file, with where it came from.
type fileTarget struct {
	target, module, expect string
	where                  string // "FILE: entry N, target T", for errors
}

// fileSDGroup is one entry of a Prometheus file_sd file.
type fileSDGroup struct {
	Targets []string          `json:"targets" yaml:"targets"`
	Labels  map[string]string `json:"labels" yaml:"labels"`
}

// readTargetFile reads a Prometheus file_sd file, JSON or YAML by its
// extension as Prometheus decides; its entries' targets in file order.
// Every error names the file and, past parsing, the entry (from 1).
func readTargetFile(path string) ([]fileTarget, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading targets file: %w", err)
	}
	var groups []fileSDGroup
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".json":
		groups, err = parseJSONGroups(data)
	case ".yml", ".yaml":
		groups, err = parseYAMLGroups(data)
	default:
		return nil, fmt.Errorf("%s: a targets file ends in .json, .yml or .yaml, as Prometheus's file_sd reads them", path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []fileTarget
	for i, g := range groups {
		entry := fmt.Sprintf("%s: entry %d", path, i+1)
		if len(g.Targets) == 0 {
			return nil, fmt.Errorf("%s: no targets", entry)
		}
		module, expect := label(g.Labels, LabelModule), label(g.Labels, LabelExpect)
		for _, t := range g.Targets {
			out = append(out, fileTarget{target: t, module: module, expect: expect, where: fmt.Sprintf("%s, target %q", entry, t)})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no targets in the file", path)
	}
	return out, nil
}

// label is a label's value, or its parameter's when the label is absent.
func label(labels map[string]string, name string) string {
	if v, ok := labels[name]; ok {
		return v
	}
	return labels[paramPrefix+name]
}

func parseJSONGroups(data []byte) ([]fileSDGroup, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var groups []fileSDGroup
	if err := dec.Decode(&groups); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the file is empty: it needs a list of {targets, labels}")
		}
		return nil, fmt.Errorf("parsing JSON: %s", jsonError(data, err))
	}
	if dec.More() {
		return nil, errors.New("parsing JSON: more than one value in the file")
	}
	return groups, nil
}

// jsonError adds the line to a JSON error that has an offset.
func jsonError(data []byte, err error) string {
	var offset int64
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		offset = syn.Offset
	case errors.As(err, &typ):
		offset = typ.Offset
	default:
		return err.Error()
	}
	line := 1 + bytes.Count(data[:min(int(offset), len(data))], []byte("\n"))
	return fmt.Sprintf("line %d: %v", line, err)
}

func parseYAMLGroups(data []byte) ([]fileSDGroup, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var groups []fileSDGroup
	if err := dec.Decode(&groups); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the file is empty: it needs a list of {targets, labels}")
		}
		s := strings.ReplaceAll(err.Error(), "yaml: unmarshal errors:\n  ", "")
		s = strings.ReplaceAll(strings.ReplaceAll(s, "\n  ", "; "), "\n", " ")
		s = goTypeName.ReplaceAllString(s, "")
		return nil, fmt.Errorf("parsing YAML: %s", strings.TrimPrefix(s, "yaml: "))
	}
	return groups, nil
}

// goTypeName is the Go type yaml.v3 names in its errors, of no use to the
// file's author.
var goTypeName = regexp.MustCompile(` in type [\w.*\[\]]+`)
