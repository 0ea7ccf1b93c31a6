package integration

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/jangada-io/jangada/deploy"
	"github.com/jangada-io/jangada/deploy/kube"
)

// allows reports whether one of rules grants the request, as RBAC does.
func allows(rules []rbacv1.PolicyRule, group, resource, verb, name string) bool {
	for _, r := range rules {
		if slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb) &&
			(len(r.ResourceNames) == 0 || slices.Contains(r.ResourceNames, name)) {
			return true
		}
	}
	return false
}

// TestRenderedRoleGrantsWhatTheKubernetesUpdateCalls runs every call of
// kube.StatefulSet against a fake clientset and checks that the rendered
// Role grants each one, and that the binding gives the Role to the
// rendered ServiceAccount.
func TestRenderedRoleGrantsWhatTheKubernetesUpdateCalls(t *testing.T) {
	cfg, err := deploy.Load(filepath.Join("..", "examples", "cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := deploy.Render(cfg, deploy.TargetKubernetes)
	if err != nil {
		t.Fatal(err)
	}
	var docs [][]byte
	var sts appsv1.StatefulSet
	for _, f := range files {
		switch f.Path {
		case "rbac.yaml":
			docs = documents(f.Data)
		case "statefulset.yaml":
			decodeStrict(t, f.Path, f.Data, &sts)
		}
	}
	if len(docs) != 3 {
		t.Fatalf("rbac.yaml holds %d documents, want 3", len(docs))
	}
	var account corev1.ServiceAccount
	var role rbacv1.Role
	var binding rbacv1.RoleBinding
	decodeStrict(t, "rbac.yaml[0]", docs[0], &account)
	decodeStrict(t, "rbac.yaml[1]", docs[1], &role)
	decodeStrict(t, "rbac.yaml[2]", docs[2], &binding)
	if binding.RoleRef.Kind != "Role" || binding.RoleRef.Name != role.Name || len(binding.Subjects) != 1 ||
		binding.Subjects[0].Kind != "ServiceAccount" || binding.Subjects[0].Name != account.Name || binding.Subjects[0].Namespace != account.Namespace {
		t.Fatalf("RoleBinding %+v does not give Role %s to ServiceAccount %s/%s", binding, role.Name, account.Namespace, account.Name)
	}

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: sts.Name + "-0", Namespace: sts.Namespace, Labels: sts.Spec.Template.Labels}}
	client := fake.NewClientset(&sts, pod)
	s, err := kube.New(kube.Config{Client: client, Namespace: sts.Namespace, Name: sts.Name})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Get(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.SetImage(ctx, "kvstore:v2", "kvstore:v1", 3); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPartition(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePod(ctx, 0); err != nil {
		t.Fatal(err)
	}
	actions := client.Actions()
	if len(actions) < 5 {
		t.Fatalf("recorded %d calls, want at least get, list, patch, patch, delete", len(actions))
	}
	for _, a := range actions {
		name := "" // a list names no object
		if named, ok := a.(interface{ GetName() string }); ok {
			name = named.GetName()
		}
		if a.GetNamespace() != role.Namespace {
			t.Errorf("%s %s in namespace %q, the Role's is %q", a.GetVerb(), a.GetResource().Resource, a.GetNamespace(), role.Namespace)
		}
		if !allows(role.Rules, a.GetResource().Group, a.GetResource().Resource, a.GetVerb(), name) {
			t.Errorf("the Role does not grant %s %s/%s %q", a.GetVerb(), a.GetResource().Group, a.GetResource().Resource, name)
		}
	}
}
