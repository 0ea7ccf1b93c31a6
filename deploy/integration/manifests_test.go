package integration

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"github.com/jangada-io/jangada/deploy"
)

// documents splits a multi-document YAML file.
func documents(data []byte) [][]byte {
	var out [][]byte
	for doc := range bytes.SplitSeq(data, []byte("\n---\n")) {
		if len(bytes.TrimSpace(doc)) > 0 {
			out = append(out, doc)
		}
	}
	return out
}

// decodeStrict decodes one manifest into the API type, refusing any field
// the type does not have.
func decodeStrict(t *testing.T, name string, doc []byte, into any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(doc, into); err != nil {
		t.Fatalf("%s does not decode strictly into %T: %v", name, into, err)
	}
}

// TestKubernetesManifestsAreValidAPIObjects decodes every manifest
// strictly into its Kubernetes (and prometheus-operator) API type and
// checks what the deployment relies on.
func TestKubernetesManifestsAreValidAPIObjects(t *testing.T) {
	cfg, err := deploy.Load(filepath.Join("..", "examples", "cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := deploy.Render(cfg, deploy.TargetKubernetes)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string][]byte{}
	for _, f := range files {
		byName[f.Path] = f.Data
	}

	svcs := documents(byName["services.yaml"])
	if len(svcs) != 2 {
		t.Fatalf("services.yaml holds %d documents, want 2", len(svcs))
	}
	var headless, client corev1.Service
	decodeStrict(t, "services.yaml[0]", svcs[0], &headless)
	decodeStrict(t, "services.yaml[1]", svcs[1], &client)
	if headless.Spec.ClusterIP != corev1.ClusterIPNone || !headless.Spec.PublishNotReadyAddresses {
		t.Errorf("peer Service: clusterIP %q, publishNotReadyAddresses %v; want a headless Service publishing not-ready pods", headless.Spec.ClusterIP, headless.Spec.PublishNotReadyAddresses)
	}
	if p := headless.Spec.Ports[0]; p.Name != "raft" || p.Protocol != corev1.ProtocolUDP {
		t.Errorf("peer Service's first port %+v, want raft/UDP (the SRV name %s)", p, cfg.SRVName())
	}

	var sts appsv1.StatefulSet
	decodeStrict(t, "statefulset.yaml", byName["statefulset.yaml"], &sts)
	spec := sts.Spec
	if sts.Kind != "StatefulSet" || spec.PodManagementPolicy != appsv1.ParallelPodManagement || spec.ServiceName != headless.Name {
		t.Errorf("StatefulSet: kind %q, podManagementPolicy %q, serviceName %q", sts.Kind, spec.PodManagementPolicy, spec.ServiceName)
	}
	if spec.Replicas == nil || *spec.Replicas != int32(cfg.Replicas) {
		t.Errorf("replicas %v, want %d", spec.Replicas, cfg.Replicas)
	}
	if u := spec.UpdateStrategy; u.Type != appsv1.RollingUpdateStatefulSetStrategyType || u.RollingUpdate == nil || u.RollingUpdate.Partition == nil || *u.RollingUpdate.Partition != int32(cfg.Replicas) {
		t.Errorf("update strategy %+v, want a RollingUpdate partitioned at %d", u, cfg.Replicas)
	}
	c := spec.Template.Spec.Containers[0]
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/ready" {
		t.Errorf("readiness probe %+v, want GET /ready", c.ReadinessProbe)
	}
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Exec == nil ||
		!strings.Contains(strings.Join(c.Lifecycle.PreStop.Exec.Command, " "), "deploy handoff") {
		t.Errorf("preStop %+v, want jangadactl deploy handoff", c.Lifecycle)
	}
	script := strings.Join(c.Command, " ")
	for _, want := range []string{"--discover dns-srv:" + cfg.SRVName(), "--bootstrap-expect 3", "--id $(( ${HOSTNAME##*-} + 1 ))", "--cluster-secret-file /run/jangada/cluster-secret"} {
		if !strings.Contains(script, want) {
			t.Errorf("container command lacks %q:\n%s", want, script)
		}
	}
	if got := c.Resources.Limits.Memory().String(); got != "512Mi" {
		t.Errorf("memory limit %s, want 512Mi", got)
	}
	if got := spec.VolumeClaimTemplates[0].Spec.Resources.Requests.Storage().String(); got != "1Gi" {
		t.Errorf("volume claim %s, want 1Gi (max_disk_gb)", got)
	}

	var pdb policyv1.PodDisruptionBudget
	decodeStrict(t, "pdb.yaml", byName["pdb.yaml"], &pdb)
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("PodDisruptionBudget maxUnavailable %v, want 1", pdb.Spec.MaxUnavailable)
	}

	var sm monitoringv1.ServiceMonitor
	decodeStrict(t, "servicemonitor.yaml", byName["servicemonitor.yaml"], &sm)
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "http" || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor endpoints %+v, want port http path /metrics", sm.Spec.Endpoints)
	}
	for k, v := range sm.Spec.Selector.MatchLabels {
		if client.Labels[k] != v {
			t.Errorf("ServiceMonitor selects %s=%s, which the client Service lacks (%v)", k, v, client.Labels)
		}
	}
	for k, v := range spec.Selector.MatchLabels {
		if spec.Template.Labels[k] != v || pdb.Spec.Selector.MatchLabels[k] != v || headless.Spec.Selector[k] != v {
			t.Errorf("selector %s=%s does not match the pods, the PDB and the Service alike", k, v)
		}
	}
}

func TestDecodeStrictRefusesAnUnknownField(t *testing.T) {
	var sts appsv1.StatefulSet
	err := yaml.UnmarshalStrict([]byte("apiVersion: apps/v1\nkind: StatefulSet\nspec:\n  podManagementPolicyy: Parallel\n"), &sts)
	if err == nil {
		t.Fatal("a misspelt field decoded")
	}
}
