package kube

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func testObjects() (*appsv1.StatefulSet, []*corev1.Pod) {
	replicas, partition := int32(3), int32(3)
	labels := map[string]string{"app.kubernetes.io/instance": "demo"}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "ns"},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: &partition}},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: "sidecar", Image: "sidecar:1"},
				{Name: "kvstore", Image: "kvstore:v1"},
			}}},
		},
	}
	var pods []*corev1.Pod
	for i, name := range []string{"demo-0", "demo-1", "other-0"} {
		l := labels
		if name == "other-0" {
			l = map[string]string{"app.kubernetes.io/instance": "other"}
		}
		pods = append(pods, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: l},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "kvstore", Image: "kvstore:v1",
				Ports: []corev1.ContainerPort{{Name: "raft", ContainerPort: 7001}, {Name: "http", ContainerPort: 8001}}}}},
			Status: corev1.PodStatus{PodIP: "10.0.0." + string(rune('1'+i)),
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionStatus(map[bool]string{true: "True", false: "False"}[i == 0])}},
				ContainerStatuses: []corev1.ContainerStatus{{Name: "kvstore", RestartCount: int32(i),
					State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
					LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3, Reason: "Error", Message: "refusing to start"}}}}},
		})
	}
	return sts, pods
}

func TestGetDescribesTheStatefulSetAndItsPods(t *testing.T) {
	sts, pods := testObjects()
	client := fake.NewClientset(sts, pods[0], pods[1], pods[2])
	s, err := New(Config{Client: client, Namespace: "ns", Name: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Replicas != 3 || st.Partition != 3 || st.Image != "kvstore:v1" || st.PreviousImage != "" || len(st.Pods) != 2 {
		t.Fatalf("state %+v: want 3 replicas, partition 3, kvstore:v1, the two pods of demo", st)
	}
	p0, p1 := st.Pods[0], st.Pods[1]
	if p0.Ordinal != 0 || !p0.Ready || p0.RaftAddr != "10.0.0.1:7001" || p0.HTTPAddr != "10.0.0.1:8001" || p0.Image != "kvstore:v1" {
		t.Errorf("pod 0: %+v", p0)
	}
	if p1.Ordinal != 1 || p1.Ready || p1.Restarts != 1 || p1.LastTermination != "CrashLoopBackOff, last exit code 3 (Error):\nrefusing to start" {
		t.Errorf("pod 1: %+v", p1)
	}
}

func TestSetImageAndPartitionPatchOnlyWhatTheyOwn(t *testing.T) {
	sts, pods := testObjects()
	client := fake.NewClientset(sts, pods[0])
	s, _ := New(Config{Client: client, Namespace: "ns", Name: "demo"})
	ctx := context.Background()
	if err := s.SetImage(ctx, "kvstore:v2", "kvstore:v1", 3); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPartition(ctx, 1); err != nil {
		t.Fatal(err)
	}
	got, err := client.AppsV1().StatefulSets("ns").Get(ctx, "demo", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cs := got.Spec.Template.Spec.Containers
	if len(cs) != 2 || cs[0].Image != "sidecar:1" || cs[1].Image != "kvstore:v2" {
		t.Errorf("containers after SetImage: %+v, want the sidecar untouched and kvstore on v2", cs)
	}
	if got.Annotations[PreviousImageAnnotation] != "kvstore:v1" || *got.Spec.UpdateStrategy.RollingUpdate.Partition != 1 || *got.Spec.Replicas != 3 {
		t.Errorf("annotations %v, partition %d, replicas %d", got.Annotations, *got.Spec.UpdateStrategy.RollingUpdate.Partition, *got.Spec.Replicas)
	}
	if err := s.DeletePod(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePod(ctx, 0); err != nil {
		t.Fatalf("deleting a pod that is gone: %v", err)
	}
}

func TestOnDeleteIsRefused(t *testing.T) {
	sts, _ := testObjects()
	sts.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	s, _ := New(Config{Client: fake.NewClientset(sts), Namespace: "ns", Name: "demo"})
	if _, err := s.Get(context.Background()); err == nil {
		t.Fatal("a StatefulSet with OnDelete was accepted")
	}
}
