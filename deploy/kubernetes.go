package deploy

import (
	"fmt"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// obj is a Kubernetes object or part of one, as its JSON form.
type obj = map[string]any

// Kubernetes ports: every pod listens on the first node's ports.
func k8sPorts(cfg *Config) (raft, http int) { return cfg.Nodes[0].Port, cfg.Nodes[0].HTTPPort }

// SRVName is the DNS SRV name of the raft port of the headless Service,
// which the pods discover each other by.
func (c *Config) SRVName() string {
	return fmt.Sprintf("_raft._udp.%s.%s.svc.cluster.local", c.ClusterName, c.Kubernetes.Namespace)
}

// renderKubernetes writes the manifests: services.yaml (the headless
// Service the pods find each other by, publishing not-ready pods so that a
// cluster can form, and a client Service of the ready pods),
// statefulset.yaml, pdb.yaml, rbac.yaml (the identity the Kubernetes update
// runs as in the cluster) and servicemonitor.yaml.
func renderKubernetes(cfg *Config) ([]File, error) {
	k := cfg.Kubernetes
	if k.Image == "" {
		return nil, &FieldError{Field: "kubernetes.image", Problem: "missing", Want: "an image holding the app and jangadactl, such as registry.example/jangada/kvstore:v1.2.3"}
	}
	raftPort, httpPort := k8sPorts(cfg)
	name, ns := cfg.ClusterName, k.Namespace
	selector := obj{"app.kubernetes.io/name": "jangada", "app.kubernetes.io/instance": name}
	labels := func(component string) obj {
		return obj{"app.kubernetes.io/name": "jangada", "app.kubernetes.io/instance": name, "app.kubernetes.io/component": component}
	}
	meta := func(n, component string) obj { return obj{"name": n, "namespace": ns, "labels": labels(component)} }

	headless := obj{
		"apiVersion": "v1", "kind": "Service", "metadata": meta(name, "peers"),
		"spec": obj{
			"clusterIP":                "None",
			"publishNotReadyAddresses": true,
			"selector":                 selector,
			"ports": []obj{
				{"name": "raft", "port": raftPort, "protocol": "UDP", "targetPort": "raft"},
				{"name": "http", "port": httpPort, "protocol": "TCP", "targetPort": "http"},
			},
		},
	}
	client := obj{
		"apiVersion": "v1", "kind": "Service", "metadata": meta(name+"-http", "http"),
		"spec": obj{
			"selector": selector,
			"ports":    []obj{{"name": "http", "port": httpPort, "protocol": "TCP", "targetPort": "http"}},
		},
	}

	fqdn := fmt.Sprintf("${HOSTNAME}.%s.%s.svc.cluster.local", name, ns)
	// The pod's ordinal names its raft id; the secret is copied into a
	// private file of the container's user (the app refuses a secret file
	// that others may read, which a mounted Secret is under fsGroup).
	script := strings.Join([]string{
		"set -eu",
		"umask 077",
		"cat /etc/jangada/secret/cluster-secret > /run/jangada/cluster-secret",
		fmt.Sprintf("exec %s serve --id $(( ${HOSTNAME##*-} + 1 )) --data-dir /data --listen %s:%d --http 0.0.0.0:%d \\", k.AppPath, fqdn, raftPort, httpPort),
		fmt.Sprintf("  --discover dns-srv:%s --bootstrap-expect %d \\", cfg.SRVName(), cfg.Replicas),
		fmt.Sprintf("  --cluster-secret-file /run/jangada/cluster-secret --store %s --preset %s --log-level %s \\", cfg.Store, cfg.RaftPreset, cfg.LogLevel),
		fmt.Sprintf("  --stop-timeout %ds%s%s", cfg.Update.StopTimeoutSeconds, shellArgs(cfg.backupFlags(cfg.Backup.StorageLocation)), shellArgs(cfg.ExtraArgs)),
	}, "\n") + "\n"
	handoff := fmt.Sprintf("%s deploy handoff --endpoints %s:%d --cluster-secret-file /run/jangada/cluster-secret --timeout %ds || true",
		k.CtlPath, fqdn, raftPort, cfg.Update.StopTimeoutSeconds)

	res := cfg.Nodes[0].Resources
	limits, requests := obj{}, obj{}
	env := []obj{}
	if res.MaxMemoryMB > 0 {
		limits["memory"] = fmt.Sprintf("%dMi", res.MaxMemoryMB)
		requests["memory"] = fmt.Sprintf("%dMi", res.MaxMemoryMB)
		env = append(env, obj{"name": "GOMEMLIMIT", "value": fmt.Sprintf("%dMiB", res.MaxMemoryMB*9/10)})
	}
	if res.MaxCPU > 0 {
		limits["cpu"] = strconv.FormatFloat(res.MaxCPU, 'f', -1, 64)
		requests["cpu"] = strconv.FormatFloat(res.MaxCPU/2, 'f', -1, 64)
	}
	container := obj{
		"name":            "kvstore",
		"image":           k.Image,
		"imagePullPolicy": k.ImagePullPolicy,
		"command":         []string{"/bin/sh", "-c", script},
		"ports": []obj{
			{"name": "raft", "containerPort": raftPort, "protocol": "UDP"},
			{"name": "http", "containerPort": httpPort, "protocol": "TCP"},
		},
		"readinessProbe": obj{
			"httpGet":          obj{"path": "/ready", "port": "http"},
			"periodSeconds":    cfg.Monitoring.HealthCheckIntervalSeconds,
			"failureThreshold": 3,
		},
		"livenessProbe": obj{
			"httpGet":             obj{"path": "/health", "port": "http"},
			"periodSeconds":       cfg.Monitoring.HealthCheckIntervalSeconds,
			"failureThreshold":    6,
			"initialDelaySeconds": 30,
		},
		// A container that exits leaves the end of its log as its
		// termination message, which deploy update --target kubernetes
		// reports when the pod fails its gate.
		"terminationMessagePolicy": "FallbackToLogsOnError",
		"lifecycle": obj{
			"preStop": obj{"exec": obj{"command": []string{"/bin/sh", "-c", handoff}}},
		},
		"volumeMounts": []obj{
			{"name": "data", "mountPath": "/data"},
			{"name": "secret", "mountPath": "/etc/jangada/secret", "readOnly": true},
			{"name": "run", "mountPath": "/run/jangada"},
		},
		"securityContext": obj{
			"allowPrivilegeEscalation": false,
			"readOnlyRootFilesystem":   true,
			"capabilities":             obj{"drop": []string{"ALL"}},
		},
	}
	if len(env) > 0 {
		container["env"] = env
	}
	if len(limits) > 0 {
		container["resources"] = obj{"limits": limits, "requests": requests}
	}
	disk := res.MaxDiskGB
	if disk == 0 {
		disk = 10
	}
	claim := obj{
		"metadata": obj{"name": "data"},
		"spec": obj{
			"accessModes": []string{"ReadWriteOnce"},
			"resources":   obj{"requests": obj{"storage": fmt.Sprintf("%dGi", disk)}},
		},
	}
	if k.StorageClass != "" {
		claim["spec"].(obj)["storageClassName"] = k.StorageClass
	}
	sts := obj{
		"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta(name, "node"),
		"spec": obj{
			"serviceName":         name,
			"replicas":            cfg.Replicas,
			"podManagementPolicy": "Parallel",
			// The partition holds every pod on the current revision until
			// it is stepped down one ordinal at a time (README: updates).
			"updateStrategy": obj{"type": "RollingUpdate", "rollingUpdate": obj{"partition": cfg.Replicas}},
			"selector":       obj{"matchLabels": selector},
			"template": obj{
				"metadata": obj{"labels": labels("node")},
				"spec": obj{
					"terminationGracePeriodSeconds": cfg.Update.StopTimeoutSeconds + 10,
					"securityContext":               obj{"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532},
					"containers":                    []obj{container},
					"volumes": []obj{
						{"name": "secret", "secret": obj{"secretName": k.SecretName, "defaultMode": 0o440}},
						{"name": "run", "emptyDir": obj{"medium": "Memory", "sizeLimit": "1Mi"}},
					},
				},
			},
			"volumeClaimTemplates": []obj{claim},
		},
	}
	pdb := obj{
		"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta(name, "node"),
		"spec": obj{"maxUnavailable": 1, "selector": obj{"matchLabels": selector}},
	}
	// The identity jangadactl deploy update --target kubernetes runs as in
	// the cluster: it reads and patches this StatefulSet, lists its pods
	// and deletes one that crashes.
	deployer := name + "-deployer"
	var podNames []string
	for i := range cfg.Nodes {
		podNames = append(podNames, fmt.Sprintf("%s-%d", name, i))
	}
	account := obj{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(deployer, "deployer")}
	role := obj{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta(deployer, "deployer"),
		"rules": []obj{
			{"apiGroups": []string{"apps"}, "resources": []string{"statefulsets"}, "resourceNames": []string{name}, "verbs": []string{"get", "patch"}},
			{"apiGroups": []string{""}, "resources": []string{"pods"}, "verbs": []string{"list"}},
			{"apiGroups": []string{""}, "resources": []string{"pods"}, "resourceNames": podNames, "verbs": []string{"delete"}},
		},
	}
	binding := obj{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta(deployer, "deployer"),
		"roleRef":  obj{"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": deployer},
		"subjects": []obj{{"kind": "ServiceAccount", "name": deployer, "namespace": ns}},
	}
	var files []File
	add := func(path string, objs ...obj) error {
		var b strings.Builder
		fmt.Fprintf(&b, "# Rendered by jangadactl deploy render from the %s deployment config.\n", name)
		for i, o := range objs {
			if i > 0 {
				b.WriteString("---\n")
			}
			data, err := yaml.Marshal(o)
			if err != nil {
				return fmt.Errorf("deploy: render %s: %w", path, err)
			}
			b.Write(data)
		}
		files = append(files, File{Path: path, Data: []byte(b.String())})
		return nil
	}
	if err := add("services.yaml", headless, client); err != nil {
		return nil, err
	}
	if err := add("statefulset.yaml", sts); err != nil {
		return nil, err
	}
	if err := add("pdb.yaml", pdb); err != nil {
		return nil, err
	}
	if err := add("rbac.yaml", account, role, binding); err != nil {
		return nil, err
	}
	if *cfg.Monitoring.ServiceMonitor {
		sm := obj{
			"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": meta(name, "http"),
			"spec": obj{
				"selector": obj{"matchLabels": labels("http")},
				"endpoints": []obj{{
					"port": "http", "path": "/metrics",
					"interval": fmt.Sprintf("%ds", cfg.Monitoring.ScrapeIntervalSeconds),
				}},
			},
		}
		if err := add("servicemonitor.yaml", sm); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// shellArgs quotes args for sh, each preceded by a space.
func shellArgs(args []string) string {
	var b strings.Builder
	for _, a := range args {
		b.WriteString(" '" + strings.ReplaceAll(a, "'", `'\''`) + "'")
	}
	return b.String()
}
