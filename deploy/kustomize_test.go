package deploy

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// `kubectl apply -k deploy/kubernetes` builds: kustomize itself (the library
// kubectl embeds) renders the folder, and what it renders decodes strictly,
// in the kustomization's namespace, with the image it names.
func TestKustomizeBuilds(t *testing.T) {
	s := load(t)
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), "kubernetes")
	if err != nil {
		t.Fatalf("kustomize build deploy/kubernetes: %v", err)
	}
	out, err := resMap.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeManifest(out)
	if err != nil {
		t.Fatalf("kustomize's output: %v", err)
	}
	want := 0
	for _, o := range s.byFile {
		want += len(o)
	}
	if len(objs) != want {
		t.Errorf("kustomize rendered %d objects, the folder has %d", len(objs), want)
	}
	for _, o := range objs {
		obj, ok := o.(metav1.Object)
		if !ok {
			t.Fatalf("%T has no object metadata", o)
		}
		if ns := obj.GetNamespace(); ns != s.kust.Namespace {
			t.Errorf("%T rendered in namespace %q, want %q", o, ns, s.kust.Namespace)
		}
		if d, ok := o.(*appsv1.Deployment); ok {
			img := s.kust.Images[0]
			if got, want := d.Spec.Template.Spec.Containers[0].Image, img.NewName+":"+img.NewTag; got != want {
				t.Errorf("rendered image %q, want %q", got, want)
			}
		}
	}
}
