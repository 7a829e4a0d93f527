// Package deploy checks how the kit is deployed with compose: the
// repository's docker-compose.yml, its profiles (scaled: PostgreSQL and
// second instances; observability: Prometheus and Grafana), the files under
// deploy/ it mounts, and the Dockerfiles it builds. Its tests load the file
// with compose-spec/compose-go, the loader `docker compose` itself uses, so
// they run everywhere and need no Docker engine; they catch a drifting port,
// listener, topic, database or unpinned image before anyone runs
// `docker compose up`. The Kubernetes manifests have their own check, in the
// deploy module (deploy/).
package deploy
