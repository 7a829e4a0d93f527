// Package deploy checks how the kit is deployed: the repository's
// docker-compose.yml and the Dockerfiles it builds. Its tests load the file
// with compose-spec/compose-go, the loader `docker compose` itself uses, so
// they run everywhere and need no Docker engine; they catch a drifting port,
// listener, topic or unpinned image before anyone runs `docker compose up`.
package deploy
