package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tcp-verdict/tcp_verdict_exporter/mixin/alerts"
	"github.com/tcp-verdict/tcp_verdict_exporter/mixin/dashboards"
)

// Without a config the command writes the committed files; with one, files
// that carry its settings; a bad config is an error naming the file.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	if err := run("", dir, false); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"../../alerts/" + alerts.RulesFile, "../../alerts/" + alerts.TestsFile, "../../alerts/" + alerts.AlertmanagerFile, "../../../dashboards/" + dashboards.File} {
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, filepath.Base(f)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: the default output differs from the committed file (%v)", filepath.Base(f), err)
		}
	}

	cfgFile := filepath.Join(dir, "my.yml")
	if err := os.WriteFile(cfgFile, []byte("probe_selector: 'job=\"blackbox_tcp\"'\nrunbook_url: https://runbooks.example/%s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if err := run(cfgFile, out, false); err != nil {
		t.Fatal(err)
	}
	rules, err := os.ReadFile(filepath.Join(out, alerts.RulesFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`job="blackbox_tcp"`, "runbook_url: https://runbooks.example/TCPVerdictFirewall"} {
		if !strings.Contains(string(rules), want) {
			t.Errorf("rules for %s lack %q", cfgFile, want)
		}
	}
	dash, err := os.ReadFile(filepath.Join(out, dashboards.File))
	if err != nil || !strings.Contains(string(dash), `job=\"blackbox_tcp\"`) {
		t.Errorf("the dashboard for %s lacks its selector (%v)", cfgFile, err)
	}

	if err := os.WriteFile(cfgFile, []byte("classes:\n  refused: {for: 30s}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(cfgFile, out, false); err == nil || !strings.Contains(err.Error(), cfgFile) {
		t.Errorf("a bad config: %v, want an error naming %s", err, cfgFile)
	}
}
