// Command generate writes the alerting rules, their promtool unit tests, the
// example Alertmanager routing and the Grafana dashboard for a generator config
// (mixin/README.md, "Adapting the rules and the dashboard"); without --config it
// writes the files committed in mixin/alerts/ and dashboards/.
//
//	go run ./mixin/cmd/generate --config my.yml --out out/
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/alecthomas/kingpin/v2"

	"github.com/tcp-verdict/tcp_verdict_exporter/mixin"
	"github.com/tcp-verdict/tcp_verdict_exporter/mixin/alerts"
	"github.com/tcp-verdict/tcp_verdict_exporter/mixin/dashboards"
)

func main() {
	app := kingpin.New("generate", "Write tcp_verdict alerting rules, their promtool tests, an example Alertmanager config and the Grafana dashboard.")
	configFile := app.Flag("config", "Generator config (YAML); fields it leaves out keep their defaults.").String()
	out := app.Flag("out", "Directory to write the files to.").Default(".").String()
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
	for name, data := range map[string][]byte{
		alerts.RulesFile:        alerts.RulesYAML(cfg),
		alerts.TestsFile:        alerts.TestsYAML(cfg),
		alerts.AlertmanagerFile: alerts.AlertmanagerYAML(),
		dashboards.File:         dashboards.JSON(cfg),
	} {
		path := filepath.Join(out, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		fmt.Println(path)
	}
	return nil
}
