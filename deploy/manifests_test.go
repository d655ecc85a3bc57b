package deploy

import (
	"errors"
	"fmt"
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
	"apps/v1/DaemonSet":                       func() any { return &appsv1.DaemonSet{} },
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

var (
	docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)
	commentLine  = regexp.MustCompile(`(?m)^[ \t]*#.*$`)
)

// decodeManifest strictly decodes every YAML document of data into the Go
// type of its kind: an unknown field (a typo), a duplicate field or a value
// of the wrong type is an error, as it is for `kubectl apply --validate=strict`.
func decodeManifest(data []byte) ([]any, error) {
	var objs []any
	for i, doc := range docSeparator.Split(string(data), -1) {
		if strings.TrimSpace(commentLine.ReplaceAllString(doc, "")) == "" {
			continue // nothing but comments, as helm template's header
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

// all is every object of type T among objs.
func all[T any](objs []any) []T {
	var found []T
	for _, o := range objs {
		if v, ok := o.(T); ok {
			found = append(found, v)
		}
	}
	return found
}

func (s shipped) objects() []any {
	var objs []any
	for _, o := range s.byFile {
		objs = append(objs, o...)
	}
	return objs
}

// Every manifest decodes strictly, the kustomization lists each of them
// once and nothing else, and the base holds every kind the chart makes.
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
	for _, k := range []string{"ConfigMap", "Deployment", "Service", "NetworkPolicy", "ServiceMonitor", "PrometheusRule"} {
		if !slices.ContainsFunc(s.objects(), func(o any) bool { return reflect.TypeOf(o).Elem().Name() == k }) {
			t.Errorf("no %s in kubernetes/", k)
		}
	}
}

// document is the YAML document of the given kind in a multi-document
// manifest.
func document(t *testing.T, manifest []byte, kind string) string {
	t.Helper()
	for _, doc := range docSeparator.Split(string(manifest), -1) {
		if regexp.MustCompile(`(?m)^kind: ` + kind + `$`).MatchString(doc) {
			return doc
		}
	}
	t.Fatalf("no %s in the manifest", kind)
	return ""
}

// The check can fail: a typo'd field, at the top or deep inside, and a
// value of the wrong type are rejected.
func TestStrictDecodeRejectsTypos(t *testing.T) {
	base, err := os.ReadFile(KustomizeBaseFile)
	if err != nil {
		t.Fatal(err)
	}
	good := document(t, base, "Deployment")
	if _, err := decodeManifest([]byte(good)); err != nil {
		t.Fatalf("the shipped Deployment: %v", err)
	}
	sm := document(t, base, "ServiceMonitor")
	for name, bad := range map[string]string{
		"top-level typo":      strings.Replace(good, "  replicas: 1", "  replicass: 1", 1),
		"nested typo":         strings.Replace(good, "readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true", 1),
		"wrong type":          strings.Replace(good, "runAsUser: 65534", "runAsUser: nobody", 1),
		"duplicate field":     strings.Replace(good, "  replicas: 1", "  replicas: 1\n  replicas: 2", 1),
		"unknown kind":        strings.Replace(good, "kind: Deployment", "kind: Deploymnet", 1),
		"operator type typo":  strings.Replace(sm, "scrapeTimeout:", "scrapetimeout:", 1),
		"second document bad": good + "\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  portz: []\n",
	} {
		if bad == good || bad == sm {
			t.Fatalf("%s: the replacement did not apply; update this test", name)
		}
		if _, err := decodeManifest([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// checkUnprivileged fails unless the pod runs with no privilege at all;
// the path trace does not need any (the chart's workload.yaml says why).
func checkUnprivileged(t *testing.T, pod corev1.PodSpec) {
	t.Helper()
	if psc := pod.SecurityContext; psc == nil || !deref(psc.RunAsNonRoot) || deref(psc.RunAsUser) != 65534 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v: want runAsNonRoot, runAsUser 65534, seccomp RuntimeDefault", psc)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the service account token is mounted; the exporter never calls the API")
	}
	if pod.HostNetwork {
		t.Error("the pod shares the node's network by default")
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
}

// The kustomize base's Deployment runs with no privilege, the image
// scripts/image.sh builds for this version.
func TestDeploymentIsUnprivileged(t *testing.T) {
	d := only[*appsv1.Deployment](t, load(t))
	checkUnprivileged(t, d.Spec.Template.Spec)
	version := strings.TrimSpace(string(mustRead(t, VersionFile)))
	if c := d.Spec.Template.Spec.Containers[0]; c.Image != "tcp_verdict_exporter:"+version {
		t.Errorf("image %q: want the local name scripts/image.sh builds, tcp_verdict_exporter:%s", c.Image, version)
	}
}

// sameYAML reports whether two YAML documents hold the same data, whatever
// their comments, key order and quoting.
func sameYAML(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := yaml.Unmarshal(a, &va); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &vb); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(va, vb)
}

// relabelsTo is the replacement of the relabeling that sets target.
func relabelsTo(rs []monitoringv1.RelabelConfig, target string) (replacement string, sources []monitoringv1.LabelName, ok bool) {
	for _, r := range rs {
		if r.TargetLabel == target {
			return deref(r.Replacement), r.SourceLabels, true
		}
	}
	return "", nil, false
}

// checkObjectsAgree fails unless the objects refer to each other by name,
// label and port, the config is config.yml's, the probe ServiceMonitors
// ask /probe for a module of it with the target kept as instance, and the
// PrometheusRule holds the rules file's groups: a rename in one template
// must not silently break another.
func checkObjectsAgree(t *testing.T, objs []any) {
	t.Helper()
	var pod corev1.PodSpec
	var podLabels, selector map[string]string
	switch ws := append(all[*appsv1.Deployment](objs), nil); {
	case ws[0] != nil:
		pod, podLabels, selector = ws[0].Spec.Template.Spec, ws[0].Spec.Template.Labels, ws[0].Spec.Selector.MatchLabels
	default:
		ds := all[*appsv1.DaemonSet](objs)
		if len(ds) != 1 {
			t.Fatalf("want one Deployment or DaemonSet, found %d DaemonSets", len(ds))
		}
		pod, podLabels, selector = ds[0].Spec.Template.Spec, ds[0].Spec.Template.Labels, ds[0].Spec.Selector.MatchLabels
	}
	svcs, cms := all[*corev1.Service](objs), all[*corev1.ConfigMap](objs)
	if len(svcs) != 1 || len(cms) != 1 {
		t.Fatalf("want one Service and one ConfigMap, found %d and %d", len(svcs), len(cms))
	}
	svc, cm := svcs[0], cms[0]
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
	subset("workload selector", selector, podLabels)
	subset("Service selector", svc.Spec.Selector, podLabels)
	for _, np := range all[*networkingv1.NetworkPolicy](objs) {
		subset("NetworkPolicy podSelector", np.Spec.PodSelector.MatchLabels, podLabels)
	}

	c := pod.Containers[0]
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" {
		t.Fatalf("container ports %+v: want one named http", c.Ports)
	}
	port := c.Ports[0].ContainerPort
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http" || svc.Spec.Ports[0].TargetPort.String() != "http" {
		t.Errorf("Service ports %+v: want one named http, targetPort http", svc.Spec.Ports)
	}
	if !slices.Contains(c.Args, "--web.listen-address=:"+strconv.Itoa(int(port))) {
		t.Errorf("args %v do not listen on the container port %d", c.Args, port)
	}

	// The config: the mounted ConfigMap holds config.yml's data, at the
	// path --config.file names.
	var mount *corev1.VolumeMount
	for i, vm := range c.VolumeMounts {
		for _, v := range pod.Volumes {
			if v.Name == vm.Name && v.ConfigMap != nil && v.ConfigMap.Name == cm.Name {
				mount = &c.VolumeMounts[i]
			}
		}
	}
	if mount == nil {
		t.Fatalf("the workload does not mount ConfigMap %s", cm.Name)
	}
	if want := "--config.file=" + mount.MountPath + "/" + ConfigKey; !slices.Contains(c.Args, want) {
		t.Errorf("args %v lack %s", c.Args, want)
	}
	config := mustRead(t, ConfigFile)
	if len(cm.Data) != 1 || !sameYAML(t, []byte(cm.Data[ConfigKey]), config) {
		t.Errorf("ConfigMap %s data is not %s's; run: cd deploy && go test . -update", cm.Name, ConfigFile)
	}

	for _, np := range all[*networkingv1.NetworkPolicy](objs) {
		if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) || len(np.Spec.Ingress) != 1 {
			t.Fatalf("NetworkPolicy %+v: want one Ingress rule", np.Spec)
		}
		in := np.Spec.Ingress[0]
		if len(in.Ports) != 1 || in.Ports[0].Port == nil || in.Ports[0].Port.IntValue() != int(port) {
			t.Errorf("NetworkPolicy ports %+v: want only %d", in.Ports, port)
		}
		if len(in.From) == 0 {
			t.Error("NetworkPolicy: no peer may reach the exporter")
		}
	}

	var cfg struct {
		Modules map[string]any `json:"modules"`
	}
	if err := yaml.Unmarshal(config, &cfg); err != nil {
		t.Fatalf("%s: %v", ConfigFile, err)
	}
	for _, sm := range all[*monitoringv1.ServiceMonitor](objs) {
		subset("ServiceMonitor "+sm.Name+" selector", sm.Spec.Selector.MatchLabels, svc.Labels)
		if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "http" {
			t.Errorf("ServiceMonitor %s endpoints %+v: want one, on port http", sm.Name, sm.Spec.Endpoints)
			continue
		}
		ep := sm.Spec.Endpoints[0]
		if _, _, ok := relabelsTo(ep.RelabelConfigs, "job"); !ok {
			t.Errorf("ServiceMonitor %s sets no job; the rules select by job", sm.Name)
		}
		if ep.Path == "/metrics" {
			continue
		}
		if ep.Path != "/probe" || len(ep.Params["module"]) != 1 || len(ep.Params["target"]) != 1 {
			t.Errorf("ServiceMonitor %s: path %q params %v: want /probe with one module and one target", sm.Name, ep.Path, ep.Params)
			continue
		}
		if _, ok := cfg.Modules[ep.Params["module"][0]]; !ok {
			t.Errorf("ServiceMonitor %s: module %q is not a module of %s", sm.Name, ep.Params["module"][0], ConfigFile)
		}
		if _, src, ok := relabelsTo(ep.RelabelConfigs, "instance"); !ok || !slices.Equal(src, []monitoringv1.LabelName{"__param_target"}) {
			t.Errorf("ServiceMonitor %s relabelings %+v do not keep the target as instance", sm.Name, ep.RelabelConfigs)
		}
	}

	// PrometheusRule: the groups of the rules file, unchanged in meaning.
	for _, rule := range all[*monitoringv1.PrometheusRule](objs) {
		var want monitoringv1.PrometheusRuleSpec
		if err := strictYAML(mustRead(t, RulesFile), &want); err != nil {
			t.Fatalf("%s: %v", RulesFile, err)
		}
		if len(want.Groups) == 0 || !reflect.DeepEqual(rule.Spec, want) {
			t.Errorf("PrometheusRule groups differ from %s; run: cd deploy && go test . -update", RulesFile)
		}
	}
}

// The kustomize base's objects agree, and its kustomization renames the
// image the Deployment runs.
func TestManifestsAgree(t *testing.T) {
	s := load(t)
	checkObjectsAgree(t, s.objects())
	c := only[*appsv1.Deployment](t, s).Spec.Template.Spec.Containers[0]
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
// job names the ServiceMonitors give the exporter's own metrics and the
// probes must be ones they select, or the PrometheusRule would never fire.
func TestJobNamesMatchTheRules(t *testing.T) {
	checkJobNames(t, load(t).objects())
}

func checkJobNames(t *testing.T, objs []any) {
	t.Helper()
	cfg := mixin.Default()
	for _, sm := range all[*monitoringv1.ServiceMonitor](objs) {
		ep := sm.Spec.Endpoints[0]
		job, _, ok := relabelsTo(ep.RelabelConfigs, "job")
		if !ok || job == "" {
			t.Errorf("ServiceMonitor %s sets no job: it would be the Service's name", sm.Name)
			continue
		}
		exporter := ep.Path == "/metrics"
		if selects(t, cfg.ExporterSelector, job) != exporter {
			t.Errorf("ServiceMonitor %s (path %s): job %q selected by exporter_selector %s: %v, want %v", sm.Name, ep.Path, job, cfg.ExporterSelector, !exporter, exporter)
		}
		if selects(t, cfg.ProbeSelector, job) == exporter {
			t.Errorf("ServiceMonitor %s (path %s): job %q selected by probe_selector %s: %v, want %v", sm.Name, ep.Path, job, cfg.ProbeSelector, exporter, !exporter)
		}
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
