// Package kube reaches the StatefulSet that deploy.Render writes, with
// client-go, for the deploy module's Kubernetes rolling update: StatefulSet
// implements deploy.StatefulSetAPI (the StatefulSet's partition and image,
// its pods' images, readiness, restarts and addresses). It is a module of
// its own so that the deploy module does not depend on client-go.
//
//	client, err := kube.NewClient("", "") // ~/.kube/config, or in-cluster
//	sts, err := kube.New(kube.Config{Client: client, Namespace: "demo", Name: "demo"})
//	drv, err := deploy.NewKubernetesDriver(cfg, deploy.KubernetesDriverConfig{API: sts, Dial: dial})
//	rep, err := drv.RollingUpdate(ctx, "registry.example.com/jangada/kvstore:v0.2.0")
package kube
