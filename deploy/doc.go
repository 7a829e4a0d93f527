// Package deploy checks the files that run the kit beyond one process: the
// Kubernetes manifests in k8s/, the Prometheus configuration and recording
// rules in prometheus/ and the Grafana dashboard in grafana/. It holds no
// code. Its tests render k8s/ with kustomize (what `kubectl apply -k` does),
// decode every object strictly against the Kubernetes API types (Strimzi's
// resources against structs written from Strimzi's CRDs), and compare ports,
// environment variables, probes, topics and metric names with their sources:
// svc.Common, each service's own config and routes, services/events, and the
// metric names the services expose.
//
// It is a module of its own so that k8s.io/api and kustomize stay out of the
// services' builds. The compose file has its own check in harness/deploy.
package deploy
