package deploy

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/tcp-verdict/tcp_verdict_exporter/mixin"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// The Go type of each kind this folder ships, by apiVersion and kind.
var kinds = map[string]func() any{
	"v1/ConfigMap":                            func() any { return &corev1.ConfigMap{} },
	"v1/Service":                              func() any { return &corev1.Service{} },
	"apps/v1/Deployment":                      func() any { return &appsv1.Deployment{} },
	"networking.k8s.io/v1/NetworkPolicy":      func() any { return &networkingv1.NetworkPolicy{} },
	"monitoring.coreos.com/v1/Probe":          func() any { return &monitoringv1.Probe{} },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return &monitoringv1.ServiceMonitor{} },
	"monitoring.coreos.com/v1/PrometheusRule": func() any { return &monitoringv1.PrometheusRule{} },
}

// strictYAML decodes YAML into v as the API server's strict field
// validation does (sigs.k8s.io/json): field names match case-sensitively,
// and an unknown or duplicate field is an error. encoding/json alone would
// accept "readOnlyRootFileSystem" for readOnlyRootFilesystem.
func strictYAML(data []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return err
	}
	strictErrs, err := kjson.UnmarshalStrict(j, v)
	if err != nil {
		return err
	}
	return errors.Join(strictErrs...)
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decodeManifest strictly decodes every YAML document of data into the Go
// type of its kind: an unknown field (a typo), a duplicate field or a value
// of the wrong type is an error, as it is for `kubectl apply --validate=strict`.
func decodeManifest(data []byte) ([]any, error) {
	var objs []any
	for i, doc := range docSeparator.Split(string(data), -1) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		newObj, ok := kinds[head.APIVersion+"/"+head.Kind]
		if !ok {
			return nil, fmt.Errorf("document %d: no Go type known for apiVersion %q kind %q", i, head.APIVersion, head.Kind)
		}
		obj := newObj()
		if err := strictYAML([]byte(doc), obj); err != nil {
			return nil, fmt.Errorf("document %d (%s): %w", i, head.Kind, err)
		}
		objs = append(objs, obj)
	}
	return objs, nil
}

// kustomization is the part of kustomization.yaml this folder uses; a key
// outside it is an error, so that nothing there goes unchecked.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace"`
	Resources  []string `json:"resources"`
	Images     []struct {
		Name    string `json:"name"`
		NewName string `json:"newName"`
		NewTag  string `json:"newTag"`
	} `json:"images"`
}

// shipped is everything kubernetes/ holds, decoded.
type shipped struct {
	kust   kustomization
	byFile map[string][]any
}

func load(t *testing.T) shipped {
	t.Helper()
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := shipped{byFile: map[string][]any{}}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(f) == "kustomization.yaml" {
			if err := strictYAML(data, &s.kust); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			continue
		}
		objs, err := decodeManifest(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		s.byFile[filepath.Base(f)] = objs
	}
	return s
}

func only[T any](t *testing.T, s shipped) T {
	t.Helper()
	var found []T
	for _, objs := range s.byFile {
		for _, o := range objs {
			if v, ok := o.(T); ok {
				found = append(found, v)
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one %T in kubernetes/, found %d", *new(T), len(found))
	}
	return found[0]
}

// Every manifest decodes strictly, and the kustomization lists each of them
// once and nothing else.
func TestManifestsDecodeStrictly(t *testing.T) {
	s := load(t)
	if s.kust.APIVersion != "kustomize.config.k8s.io/v1beta1" || s.kust.Kind != "Kustomization" {
		t.Errorf("kustomization.yaml: apiVersion %q kind %q", s.kust.APIVersion, s.kust.Kind)
	}
	var files []string
	for f := range s.byFile {
		files = append(files, f)
	}
	slices.Sort(files)
	listed := slices.Clone(s.kust.Resources)
	slices.Sort(listed)
	if !slices.Equal(files, listed) {
		t.Errorf("kustomization.yaml resources %v, want the manifests of the folder %v", listed, files)
	}
	for _, k := range []string{"ConfigMap", "Deployment", "Service", "NetworkPolicy", "Probe", "ServiceMonitor", "PrometheusRule"} {
		n := 0
		for _, objs := range s.byFile {
			for _, o := range objs {
				if reflect.TypeOf(o).Elem().Name() == k {
					n++
				}
			}
		}
		if n == 0 {
			t.Errorf("no %s in kubernetes/", k)
		}
	}
}

// The check can fail: a typo'd field, at the top or deep inside, and a
// value of the wrong type are rejected.
func TestStrictDecodeRejectsTypos(t *testing.T) {
	good, err := os.ReadFile("kubernetes/deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeManifest(good); err != nil {
		t.Fatalf("the shipped Deployment: %v", err)
	}
	probe, err := os.ReadFile("kubernetes/probe.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]string{
		"top-level typo":      strings.Replace(string(good), "  replicas: 1", "  replicass: 1", 1),
		"nested typo":         strings.Replace(string(good), "readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true", 1),
		"wrong type":          strings.Replace(string(good), "runAsUser: 65534", "runAsUser: nobody", 1),
		"duplicate field":     strings.Replace(string(good), "  replicas: 1", "  replicas: 1\n  replicas: 2", 1),
		"unknown kind":        strings.Replace(string(good), "kind: Deployment", "kind: Deploymnet", 1),
		"operator type typo":  strings.Replace(string(probe), "jobName:", "jobname:", 1),
		"second document bad": string(good) + "\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  portz: []\n",
	} {
		if bad == string(good) || bad == string(probe) {
			t.Fatalf("%s: the replacement did not apply; update this test", name)
		}
		if _, err := decodeManifest([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// The Deployment runs with no privilege at all; the path trace does not
// need any (deployment.yaml says why).
func TestDeploymentIsUnprivileged(t *testing.T) {
	d := only[*appsv1.Deployment](t, load(t))
	pod := d.Spec.Template.Spec
	if psc := pod.SecurityContext; psc == nil || !deref(psc.RunAsNonRoot) || deref(psc.RunAsUser) != 65534 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v: want runAsNonRoot, runAsUser 65534, seccomp RuntimeDefault", psc)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the service account token is mounted; the exporter never calls the API")
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	if sc == nil || !deref(sc.RunAsNonRoot) || deref(sc.RunAsUser) != 65534 || !deref(sc.ReadOnlyRootFilesystem) ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || deref(sc.Privileged) ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 ||
		sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("container securityContext %+v: want non-root 65534, read-only root, no privilege escalation, drop ALL, seccomp RuntimeDefault", sc)
	}
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/-/healthy" || p.HTTPGet.Port.String() != "http" {
			t.Errorf("%s probe %+v: want GET /-/healthy on port http", name, p)
		}
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v: want cpu and memory requests and a memory limit", c.Resources)
	}
	if c.Image != "tcp_verdict_exporter:latest" {
		t.Errorf("image %q: want the local name scripts/image.sh builds, tcp_verdict_exporter:latest", c.Image)
	}
}

// The objects refer to each other by name, label and port; a rename in one
// file must not silently break another.
func TestManifestsAgree(t *testing.T) {
	s := load(t)
	d := only[*appsv1.Deployment](t, s)
	svc := only[*corev1.Service](t, s)
	cm := only[*corev1.ConfigMap](t, s)
	np := only[*networkingv1.NetworkPolicy](t, s)
	sm := only[*monitoringv1.ServiceMonitor](t, s)
	probe := only[*monitoringv1.Probe](t, s)
	rule := only[*monitoringv1.PrometheusRule](t, s)

	podLabels := d.Spec.Template.Labels
	subset := func(what string, sel, labels map[string]string) {
		t.Helper()
		if len(sel) == 0 {
			t.Errorf("%s: empty selector", what)
		}
		for k, v := range sel {
			if labels[k] != v {
				t.Errorf("%s: selector %s=%s does not match labels %v", what, k, v, labels)
			}
		}
	}
	subset("Deployment selector", d.Spec.Selector.MatchLabels, podLabels)
	subset("Service selector", svc.Spec.Selector, podLabels)
	subset("NetworkPolicy podSelector", np.Spec.PodSelector.MatchLabels, podLabels)
	subset("ServiceMonitor selector", sm.Spec.Selector.MatchLabels, svc.Labels)

	c := d.Spec.Template.Spec.Containers[0]
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" {
		t.Fatalf("container ports %+v: want one named http", c.Ports)
	}
	port := c.Ports[0].ContainerPort
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http" || svc.Spec.Ports[0].Port != port || svc.Spec.Ports[0].TargetPort.String() != "http" {
		t.Errorf("Service ports %+v: want one named http, port %d, targetPort http", svc.Spec.Ports, port)
	}
	if !slices.Contains(c.Args, "--web.listen-address=:"+strconv.Itoa(int(port))) {
		t.Errorf("args %v do not listen on the container port %d", c.Args, port)
	}

	// The config: the mounted ConfigMap holds config.yml byte for byte, at the
	// path --config.file names.
	var mount *corev1.VolumeMount
	for i, vm := range c.VolumeMounts {
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name == vm.Name && v.ConfigMap != nil && v.ConfigMap.Name == cm.Name {
				mount = &c.VolumeMounts[i]
			}
		}
	}
	if mount == nil {
		t.Fatalf("the Deployment does not mount ConfigMap %s", cm.Name)
	}
	if want := "--config.file=" + mount.MountPath + "/" + ConfigKey; !slices.Contains(c.Args, want) {
		t.Errorf("args %v lack %s", c.Args, want)
	}
	config, err := os.ReadFile(ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data[ConfigKey] != string(config) || len(cm.Data) != 1 {
		t.Errorf("ConfigMap %s data is not exactly %s; run: cd deploy && go test . -update", cm.Name, ConfigFile)
	}

	// NetworkPolicy: ingress to the exporter's port only, from Prometheus.
	if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) || len(np.Spec.Ingress) != 1 {
		t.Fatalf("NetworkPolicy %+v: want one Ingress rule", np.Spec)
	}
	in := np.Spec.Ingress[0]
	if len(in.Ports) != 1 || in.Ports[0].Port == nil || in.Ports[0].Port.IntValue() != int(port) {
		t.Errorf("NetworkPolicy ports %+v: want only %d", in.Ports, port)
	}
	if len(in.From) != 1 || in.From[0].NamespaceSelector == nil || in.From[0].PodSelector == nil {
		t.Errorf("NetworkPolicy from %+v: want one peer with both a namespace and a pod selector", in.From)
	}

	// ServiceMonitor: the exporter's own metrics on the named port.
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "http" || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor endpoints %+v: want port http, path /metrics", sm.Spec.Endpoints)
	}

	// Probe: the prober is the Service in the kustomization's namespace.
	host, p, err := net.SplitHostPort(probe.Spec.ProberSpec.URL)
	if err != nil || host != svc.Name+"."+s.kust.Namespace+".svc" || p != strconv.Itoa(int(port)) {
		t.Errorf("Probe prober url %q: want %s.%s.svc:%d", probe.Spec.ProberSpec.URL, svc.Name, s.kust.Namespace, port)
	}
	var cfg struct {
		Modules map[string]any `json:"modules"`
	}
	if err := yaml.Unmarshal(config, &cfg); err != nil {
		t.Fatalf("%s: %v", ConfigFile, err)
	}
	if _, ok := cfg.Modules[probe.Spec.Module]; probe.Spec.ProberSpec.Path != "/probe" || !ok {
		t.Errorf("Probe: path %q module %q: want /probe and a module of %s", probe.Spec.ProberSpec.Path, probe.Spec.Module, ConfigFile)
	}
	if sc := probe.Spec.Targets.StaticConfig; sc == nil || len(sc.Targets) == 0 {
		t.Error("Probe: no static targets")
	} else {
		keeps := false
		for _, r := range sc.RelabelConfigs {
			keeps = keeps || (slices.Equal(r.SourceLabels, []monitoringv1.LabelName{"__param_target"}) && r.TargetLabel == "instance")
		}
		if !keeps {
			t.Errorf("Probe relabelings %+v do not keep the target as instance", sc.RelabelConfigs)
		}
	}

	// PrometheusRule: the groups of the rules file, unchanged in meaning.
	rules, err := os.ReadFile(RulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var want monitoringv1.PrometheusRuleSpec
	if err := strictYAML(rules, &want); err != nil {
		t.Fatalf("%s: %v", RulesFile, err)
	}
	if len(want.Groups) == 0 || !reflect.DeepEqual(rule.Spec, want) {
		t.Errorf("PrometheusRule groups differ from %s; run: cd deploy && go test . -update", RulesFile)
	}

	// The kustomization's image entry renames the Deployment's image.
	if len(s.kust.Images) != 1 || s.kust.Images[0].Name+":"+s.kust.Images[0].NewTag != c.Image {
		t.Errorf("kustomization images %+v do not name the Deployment's image %s", s.kust.Images, c.Image)
	}
}

func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

// The shipped rules select jobs by name (mixin.Default's selectors): the
// Probe's and the ServiceMonitor's job names must be ones they select, or
// the PrometheusRule would never fire.
func TestJobNamesMatchTheRules(t *testing.T) {
	s := load(t)
	svc := only[*corev1.Service](t, s)
	sm := only[*monitoringv1.ServiceMonitor](t, s)
	probe := only[*monitoringv1.Probe](t, s)
	cfg := mixin.Default()

	exporterJob := svc.Labels[sm.Spec.JobLabel]
	if sm.Spec.JobLabel == "" || exporterJob == "" {
		t.Fatalf("ServiceMonitor jobLabel %q names no label of the Service: the job would be the Service's name %q", sm.Spec.JobLabel, svc.Name)
	}
	if !selects(t, cfg.ExporterSelector, exporterJob) {
		t.Errorf("exporter job %q is not selected by exporter_selector %s", exporterJob, cfg.ExporterSelector)
	}
	if selects(t, cfg.ProbeSelector, exporterJob) {
		t.Errorf("exporter job %q is also selected by probe_selector %s", exporterJob, cfg.ProbeSelector)
	}
	if !selects(t, cfg.ProbeSelector, probe.Spec.JobName) {
		t.Errorf("Probe jobName %q is not selected by probe_selector %s", probe.Spec.JobName, cfg.ProbeSelector)
	}
}

// selects evaluates a selector made of job matchers (=, !=, =~, !~) on a
// job name, as Prometheus would (regexps fully anchored).
func selects(t *testing.T, selector, job string) bool {
	t.Helper()
	m := regexp.MustCompile(`^\s*job\s*(=~|!~|!=|=)\s*"([^"]*)"\s*$`)
	for _, part := range strings.Split(selector, ",") {
		g := m.FindStringSubmatch(part)
		if g == nil {
			t.Fatalf("selector part %q is not a job matcher this test understands", part)
		}
		var ok bool
		switch g[1] {
		case "=":
			ok = job == g[2]
		case "!=":
			ok = job != g[2]
		case "=~", "!~":
			ok = regexp.MustCompile("^(?:"+g[2]+")$").MatchString(job) == (g[1] == "=~")
		}
		if !ok {
			return false
		}
	}
	return true
}
