package deploy

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

func init() {
	// Panel options, field configs and Prometheus queries are decoded
	// strictly only for the plugin types registered here.
	plugins.RegisterDefaultPlugins()
}

const missing = "required field is missing from input"

// decodeDashboard strictly decodes a dashboard with grafana-foundation-sdk
// and validates it. It returns the errors Grafana would not accept, and
// apart the required fields that are absent: Grafana fills those in with
// its defaults when it loads a dashboard.
func decodeDashboard(raw []byte) (defaulted []string, err error) {
	// The dashboards are the classic JSON model Grafana imports and
	// provisions; dashboardv2 is the schema of the newer dashboard API.
	//lint:ignore SA1019 the classic model is what dashboards/ ships
	var d dashboard.Dashboard //nolint:staticcheck // see above
	var buildErrs cog.BuildErrors
	for _, check := range []func() error{
		func() error { return d.UnmarshalJSONStrict(raw) },
		func() error { return d.Validate() },
		func() error { return decodeFieldConfigs(raw) },
	} {
		var be cog.BuildErrors
		if err := check(); errors.As(err, &be) {
			buildErrs = append(buildErrs, be...)
		} else if err != nil {
			return nil, err
		}
	}
	var rest []error
	for _, e := range buildErrs {
		if e.Message == missing {
			defaulted = append(defaulted, e.Path)
			continue
		}
		rest = append(rest, e)
	}
	return defaulted, errors.Join(rest...)
}

func dashboardFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../dashboards/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in ../dashboards (%v)", err)
	}
	return files
}

// Every dashboard decodes with Grafana's own types.
func TestDashboardsDecodeStrictly(t *testing.T) {
	for _, f := range dashboardFiles(t) {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		defaulted, err := decodeDashboard(raw)
		if err != nil {
			t.Errorf("%s:\n%v", f, err)
		}
		if len(defaulted) > 0 {
			t.Logf("%s: left to Grafana's defaults: %s", f, strings.Join(defaulted, ", "))
		}
	}
}

// The check can fail: a typo'd field at each level it reaches is rejected.
func TestDashboardDecodeRejectsTypos(t *testing.T) {
	raw, err := os.ReadFile(dashboardFiles(t)[0])
	if err != nil {
		t.Fatal(err)
	}
	good := string(raw)
	for name, typo := range map[string][2]string{
		"dashboard":    {`"schemaVersion"`, `"schemaversion"`},
		"panel":        {`"gridPos"`, `"gridpos"`},
		"query":        {`"expr"`, `"exp"`},
		"options":      {`"reduceOptions"`, `"reduceOption"`},
		"variable":     {`"includeAll"`, `"includeall"`},
		"field config": {`"unit"`, `"units"`},
		"override":     {`"matcher"`, `"matchers"`},
		"threshold":    {`"steps"`, `"step"`},
		"wrong type":   {`"editable": true`, `"editable": "yes"`},
	} {
		bad := strings.Replace(good, typo[0], typo[1], 1)
		if bad == good {
			t.Fatalf("%s: %s not in the dashboard; update this test", name, typo[0])
		}
		if _, err := decodeDashboard([]byte(bad)); err == nil {
			t.Errorf("%s: %s -> %s accepted", name, typo[0], typo[1])
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// decodeFieldConfigs strictly decodes every panel's fieldConfig, rows'
// panels included: the SDK's Panel decoder is strict only about
// fieldConfig.defaults.custom and decodes the rest (unit, thresholds,
// overrides, ...) with encoding/json, which ignores unknown fields.
func decodeFieldConfigs(raw []byte) error {
	type panel struct {
		FieldConfig json.RawMessage `json:"fieldConfig"`
		Panels      []panel         `json:"panels"`
	}
	var d struct {
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return err
	}
	var errs cog.BuildErrors
	var walk func(prefix string, ps []panel)
	walk = func(prefix string, ps []panel) {
		for i, p := range ps {
			path := prefix + "[" + strconv.Itoa(i) + "]"
			if p.FieldConfig != nil {
				var fc dashboard.FieldConfigSource
				if err := fc.UnmarshalJSONStrict(p.FieldConfig); err != nil {
					errs = append(errs, cog.MakeBuildErrors(path+".fieldConfig", err)...)
				}
			}
			walk(path+".panels", p.Panels)
		}
	}
	walk("panels", d.Panels)
	if len(errs) == 0 {
		return nil
	}
	return errs
}
