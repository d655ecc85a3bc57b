package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tcp-verdict/tcp_verdict_exporter/mixin"
	"github.com/tcp-verdict/tcp_verdict_exporter/mixin/alerts"
	"github.com/tcp-verdict/tcp_verdict_exporter/mixin/dashboards"
)

// root is the repository's root, seen from this package's folder.
const root = "../../.."

// The committed files are the generator's output for the defaults, byte for
// byte, and mixin/README.md's generated sections are current.
func TestCommittedFilesAreCurrent(t *testing.T) {
	for _, f := range Files(mixin.Default()) {
		got, err := os.ReadFile(filepath.Join(root, f.Path))
		if err != nil || !bytes.Equal(got, f.Data) {
			t.Errorf("%s differs from the generator's output (or is missing: %v); run: %s", f.Path, err, Command)
		}
	}
	readme := filepath.Join(root, ReadmeFile)
	want, err := RewriteSections(readme, Sections(mixin.Default()))
	if err != nil {
		t.Fatalf("%v; run: %s", err, Command)
	}
	if got, _ := os.ReadFile(readme); !bytes.Equal(got, want) {
		t.Errorf("%s: a generated table differs from the generator's output; run: %s", ReadmeFile, Command)
	}
}

// Without --out the command finds the repository's root from a folder
// inside it, rewrites the committed files and mixin/README.md's sections (and
// nothing else of it); it refuses --config without --out, and a
// folder outside the repository.
func TestRunWritesTheRepository(t *testing.T) {
	repo := t.TempDir()
	mustWrite(t, filepath.Join(repo, "go.mod"), "module "+modulePath+"\n\ngo 1.26\n")
	var readme strings.Builder
	readme.WriteString("# Mixin\n\nprose before\n\n")
	for _, s := range Sections(mixin.Default()) {
		readme.WriteString(s.Begin + "stale\n" + s.End + "\n\nprose between\n\n")
	}
	mustWrite(t, filepath.Join(repo, ReadmeFile), readme.String())
	mustWrite(t, filepath.Join(repo, dashDir, dashboards.File), "stale")
	sub := filepath.Join(repo, "mixin", "dashboards")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(sub)
	if err := run("", "", false); err != nil {
		t.Fatal(err)
	}
	for _, f := range Files(mixin.Default()) {
		if got, err := os.ReadFile(filepath.Join(repo, f.Path)); err != nil || !bytes.Equal(got, f.Data) {
			t.Errorf("%s not written (%v)", f.Path, err)
		}
	}
	got, err := os.ReadFile(filepath.Join(repo, ReadmeFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(got), "stale") || !strings.Contains(string(got), "prose before") ||
		strings.Count(string(got), "prose between") != 2 || !strings.Contains(string(got), "| `"+mixin.ExporterDown+"` |") {
		t.Errorf("README sections not rewritten in place:\n%s", got)
	}

	if err := run("my.yml", "", false); err == nil || !strings.Contains(err.Error(), "--out") {
		t.Errorf("--config without --out: %v, want an error naming --out", err)
	}
	t.Chdir(t.TempDir())
	if err := run("", "", false); err == nil || !strings.Contains(err.Error(), "--out") {
		t.Errorf("outside the repository: %v, want an error pointing at --out", err)
	}
}

// A mixin/README.md without the markers is an error naming the file, not a file
// rewritten in the wrong place.
func TestRewriteSectionsNeedsMarkers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "README.md")
	mustWrite(t, path, "no markers here\n")
	if _, err := RewriteSections(path, Sections(mixin.Default())); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("no markers: %v, want an error naming %s", err, path)
	}
}

// With --out and no config the command writes the committed files; with a
// config, files that carry its settings; a bad config is an error naming
// the file.
func TestRunOut(t *testing.T) {
	dir := t.TempDir()
	if err := run("", dir, false); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"mixin/alerts/" + alerts.RulesFile, "mixin/alerts/" + alerts.TestsFile, "mixin/alerts/" + alerts.AlertmanagerFile, "dashboards/" + dashboards.File} {
		want, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, filepath.Base(f)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: the default output differs from the committed file (%v)", filepath.Base(f), err)
		}
	}

	cfgFile := filepath.Join(dir, "my.yml")
	mustWrite(t, cfgFile, "probe_selector: 'job=\"blackbox_tcp\"'\nrunbook_url: https://runbooks.example/%s\n")
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

	mustWrite(t, cfgFile, "classes:\n  refused: {for: 30s}\n")
	if err := run(cfgFile, out, false); err == nil || !strings.Contains(err.Error(), cfgFile) {
		t.Errorf("a bad config: %v, want an error naming %s", err, cfgFile)
	}
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
