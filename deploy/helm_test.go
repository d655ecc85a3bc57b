package deploy

import (
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testenv"
)

// valueSets are the values the chart is linted and rendered with: its
// defaults, and each file of its ci/ folder.
func valueSets(t *testing.T) map[string][]string {
	t.Helper()
	files, err := filepath.Glob(ChartDir + "/ci/*-values.yaml")
	if err != nil || len(files) < 2 {
		t.Fatalf("ci/*-values.yaml: %v (%d files, want the kustomize and DaemonSet ones)", err, len(files))
	}
	sets := map[string][]string{"defaults": nil}
	for _, f := range files {
		sets[strings.TrimSuffix(filepath.Base(f), "-values.yaml")] = []string{f}
	}
	return sets
}

// helm lint --strict passes for every value set.
func TestHelmLint(t *testing.T) {
	testenv.NeedTools(t, "helm")
	for name, files := range valueSets(t) {
		args := []string{"lint", "--strict", ChartDir}
		for _, f := range files {
			args = append(args, "--values", f)
		}
		if out, err := exec.Command("helm", args...).CombinedOutput(); err != nil {
			t.Errorf("%s: helm %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
}

// What helm template renders for every value set decodes strictly into the
// Kubernetes and Prometheus Operator types, runs unprivileged, and agrees
// with itself, config.yml and the rules file. As a DaemonSet, every scrape
// object labels each pod's series with its node's name as `vantage`; as a
// Deployment, none invents one.
func TestHelmTemplate(t *testing.T) {
	testenv.NeedTools(t, "helm")
	for name, files := range valueSets(t) {
		t.Run(name, func(t *testing.T) {
			out, err := HelmTemplate("monitoring", files...)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := decodeManifest(out)
			if err != nil {
				t.Fatalf("helm template: %v", err)
			}
			var kinds []string
			for _, o := range objs {
				kinds = append(kinds, reflect.TypeOf(o).Elem().Name())
			}
			t.Logf("rendered %v", kinds)
			checkObjectsAgree(t, objs)
			checkJobNames(t, objs)

			deployments, daemonSets := all[*appsv1.Deployment](objs), all[*appsv1.DaemonSet](objs)
			daemon := len(daemonSets) == 1
			var pod corev1.PodSpec
			switch {
			case len(deployments) == 1 && len(daemonSets) == 0:
				pod = deployments[0].Spec.Template.Spec
			case daemon && len(deployments) == 0:
				pod = daemonSets[0].Spec.Template.Spec
			default:
				t.Fatalf("%d Deployments and %d DaemonSets, want one workload", len(deployments), len(daemonSets))
			}
			checkUnprivileged(t, pod)
			if daemon != (name == "daemonset") {
				t.Errorf("DaemonSet rendered: %v, want it only for ci/daemonset-values.yaml", daemon)
			}
			sms := all[*monitoringv1.ServiceMonitor](objs)
			if name == "defaults" {
				// Like the blackbox chart: no object that needs the
				// Operator's CRDs unless asked for.
				if want := []string{"ConfigMap", "Service", "Deployment"}; !slices.Equal(kinds, want) {
					t.Errorf("the default values render %v, want %v", kinds, want)
				}
				return
			}
			if len(sms) < 2 || len(all[*monitoringv1.PrometheusRule](objs)) != 1 {
				t.Errorf("%d ServiceMonitors (want the exporter's and a target's) and %d PrometheusRules (want 1)", len(sms), len(all[*monitoringv1.PrometheusRule](objs)))
			}
			for _, sm := range sms {
				_, src, ok := relabelsTo(sm.Spec.Endpoints[0].RelabelConfigs, "vantage")
				fromNode := ok && slices.Equal(src, []monitoringv1.LabelName{"__meta_kubernetes_pod_node_name"})
				if daemon && !fromNode {
					t.Errorf("DaemonSet: ServiceMonitor %s does not label its series with the node's name as vantage: %+v", sm.Name, sm.Spec.Endpoints[0].RelabelConfigs)
				}
				if !daemon && ok {
					t.Errorf("Deployment without a vantage value: ServiceMonitor %s sets vantage", sm.Name)
				}
			}
		})
	}
}

// The chart refuses a kind it cannot render, and a target without an
// address, with a message that says so.
func TestHelmTemplateRejectsBadValues(t *testing.T) {
	testenv.NeedTools(t, "helm")
	for name, tc := range map[string]struct{ set, want string }{
		"kind":      {"kind=StatefulSet", `kind must be Deployment or DaemonSet, not "StatefulSet"`},
		"no target": {"serviceMonitor.enabled=true,serviceMonitor.targets[0].name=x", `"x" has no target`},
	} {
		out, err := exec.Command("helm", "template", Name, ChartDir, "--set", tc.set).CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("%s: --set %s: %v, want an error saying %s:\n%s", name, tc.set, err, tc.want, out)
		}
	}
}
