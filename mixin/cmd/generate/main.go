// Command generate is the one writer of the mixin's generated files: the
// alerting rules, their promtool unit tests, the example Alertmanager
// routing, the Grafana dashboard, and the generated tables of mixin/README.md. Run without flags, from anywhere in the repository, it rewrites
// the committed files from the taxonomy and the generator config's
// defaults:
//
//	go run ./mixin/cmd/generate
//
// With --out it writes the rules, tests, Alertmanager example and dashboard
// for a generator config of your own into one directory instead
// (mixin/README.md, "Adapting the rules and the dashboard"):
//
//	go run ./mixin/cmd/generate --config my.yml --out out/
//
// The tests of this package fail, naming this command, when a committed
// file differs from its output.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/tcp-verdict/tcp_verdict_exporter/mixin"
	"github.com/tcp-verdict/tcp_verdict_exporter/mixin/alerts"
	"github.com/tcp-verdict/tcp_verdict_exporter/mixin/dashboards"
)

// Command is how to regenerate the committed files; failure messages and
// generated headers name it.
const Command = "go run ./mixin/cmd/generate"

// modulePath identifies the repository's root: the directory whose go.mod
// declares it.
const modulePath = "github.com/tcp-verdict/tcp_verdict_exporter"

// Where the committed files are, relative to the repository's root. The
// dashboard JSON keeps the top-level dashboards/ the design card names.
const (
	alertsDir = "mixin/alerts"
	dashDir   = "dashboards"
	// ReadmeFile holds the generated tables (Sections).
	ReadmeFile = "mixin/README.md"
)

func main() {
	app := kingpin.New("generate", "Write tcp_verdict alerting rules, their promtool tests, an example Alertmanager config and the Grafana dashboard. "+
		"Without --out, rewrite the files committed in this repository from the defaults.")
	configFile := app.Flag("config", "Generator config (YAML); fields it leaves out keep their defaults. Needs --out.").String()
	out := app.Flag("out", "Directory to write the files to, instead of the repository's committed files.").String()
	printDefaults := app.Flag("print-defaults", "Print the default config and exit.").Bool()
	kingpin.MustParse(app.Parse(os.Args[1:]))
	if err := run(*configFile, *out, *printDefaults); err != nil {
		fmt.Fprintln(os.Stderr, "generate:", err)
		os.Exit(1)
	}
}

func run(configFile, out string, printDefaults bool) error {
	if printDefaults {
		_, err := os.Stdout.Write(mixin.Default().YAML())
		return err
	}
	if out == "" {
		if configFile != "" {
			return errors.New("--config needs --out: the committed files are the defaults' output")
		}
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		root, err := findRoot(wd)
		if err != nil {
			return err
		}
		return writeRepository(root)
	}
	cfg := mixin.Default()
	if configFile != "" {
		var err error
		if cfg, err = mixin.Load(configFile); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", out, err)
	}
	for _, f := range Files(cfg) {
		path := filepath.Join(out, filepath.Base(f.Path))
		if err := os.WriteFile(path, f.Data, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		fmt.Println(path)
	}
	return nil
}

// File is one generated file: its path in the repository, slash-separated
// and relative to the root, and its content.
type File struct {
	Path string
	Data []byte
}

// Files are the generated files of a config, at their committed paths.
func Files(cfg mixin.Config) []File {
	return []File{
		{alertsDir + "/" + alerts.RulesFile, alerts.RulesYAML(cfg)},
		{alertsDir + "/" + alerts.TestsFile, alerts.TestsYAML(cfg)},
		{alertsDir + "/" + alerts.AlertmanagerFile, alerts.AlertmanagerYAML()},
		{dashDir + "/" + dashboards.File, dashboards.JSON(cfg)},
	}
}

// Section is a generated part of a Markdown file: the text between its
// begin and end markers.
type Section struct {
	Begin, End string
	Text       string
}

// Sections are mixin/README.md's generated parts: the table of alerts and the
// generator config's defaults.
func Sections(cfg mixin.Config) []Section {
	return []Section{
		{
			Begin: "<!-- alerts-table:begin (generated from mixin/alerts/alerts.go: " + Command + ") -->\n",
			End:   "<!-- alerts-table:end -->",
			Text:  alerts.MarkdownTable(cfg),
		},
		{
			Begin: "<!-- config-defaults:begin (generated from mixin/mixin.go: " + Command + ") -->\n```yaml\n",
			End:   "```\n<!-- config-defaults:end -->",
			Text:  string(cfg.YAML()),
		},
	}
}

// RewriteSections returns the Markdown file at path with each section's
// text between its markers replaced; a missing marker is an error naming
// the file.
func RewriteSections(path string, sections []Section) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	doc := string(data)
	for _, s := range sections {
		i := strings.Index(doc, s.Begin)
		if i < 0 {
			return nil, fmt.Errorf("%s lacks the marker %q", path, s.Begin)
		}
		start := i + len(s.Begin)
		j := strings.Index(doc[start:], s.End)
		if j < 0 {
			return nil, fmt.Errorf("%s lacks the marker %q after %q", path, s.End, s.Begin)
		}
		doc = doc[:start] + s.Text + doc[start+j:]
	}
	return []byte(doc), nil
}

// writeRepository rewrites the committed files under root from the
// defaults, and says which changed.
func writeRepository(root string) error {
	cfg := mixin.Default()
	files := Files(cfg)
	readme := filepath.Join(root, filepath.FromSlash(ReadmeFile))
	data, err := RewriteSections(readme, Sections(cfg))
	if err != nil {
		return err
	}
	files = append(files, File{ReadmeFile, data})
	for _, f := range files {
		path := filepath.Join(root, filepath.FromSlash(f.Path))
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, f.Data) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("creating the folder of %s: %w", path, err)
		}
		if err := os.WriteFile(path, f.Data, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		fmt.Println("wrote", f.Path)
	}
	return nil
}

// findRoot is the nearest directory from dir up whose go.mod declares this
// module.
func findRoot(dir string) (string, error) {
	for d := dir; ; {
		if isRoot(filepath.Join(d, "go.mod")) {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("%s is not inside the %s repository: run %s from it, or give --out", dir, modulePath, Command)
		}
		d = parent
	}
}

func isRoot(gomod string) bool {
	data, err := os.ReadFile(gomod)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if fields := strings.Fields(line); len(fields) == 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == modulePath
		}
	}
	return false
}
