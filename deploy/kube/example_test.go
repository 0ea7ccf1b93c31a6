package kube_test

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/jangada-io/jangada/deploy/kube"
)

// A StatefulSet as the Kubernetes update sees it; a real client comes
// from kube.NewClient.
func ExampleStatefulSet_Get() {
	replicas := int32(3)
	client := fake.NewClientset(&appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "demo"},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "demo"}},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: "kvstore", Image: "registry.example.com/jangada/kvstore:v0.1.0"},
			}}},
		},
	})
	sts, err := kube.New(kube.Config{Client: client, Namespace: "demo", Name: "demo"})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := sts.SetImage(ctx, "registry.example.com/jangada/kvstore:v0.2.0", "registry.example.com/jangada/kvstore:v0.1.0", 3); err != nil {
		panic(err)
	}
	st, err := sts.Get(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(st.Replicas, st.Partition, st.Image, st.PreviousImage)
	// Output: 3 3 registry.example.com/jangada/kvstore:v0.2.0 registry.example.com/jangada/kvstore:v0.1.0
}
