package deploy

import (
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/distribution/reference"

	"github.com/kafkakit/kit/harness/registry"
	"github.com/kafkakit/kit/services/platform/svc"
)

// registryService is compose's schema registry, Apicurio on its own port.
const (
	registryService = "schema-registry"
	registryPort    = 8080
)

// Every service that reads Kafka frames or resolves schema ids, so it gets
// SCHEMA_REGISTRY_URL naming the registry service's Confluent-compatible
// API, and starts once the registry is healthy; without it the service
// never becomes ready.
func TestComposeKafkaClientsUseTheSchemaRegistry(t *testing.T) {
	p := loadAllProfiles(t)
	reg := service(t, p, registryService)
	want := fmt.Sprintf("http://%s:%d%s", registryService, registryPort, registry.CcompatPath)
	if got := healthcheckCommand(reg); got == "" {
		t.Errorf("%s: no healthcheck; the services wait on service_healthy", registryService)
	}

	// The host reaches it where `kit up` serves one, the services' default.
	def, err := url.Parse(svc.DefaultRegistryURL)
	if err != nil {
		t.Fatalf("svc.DefaultRegistryURL %q: %v", svc.DefaultRegistryURL, err)
	}
	var published []string
	for _, pc := range reg.Ports {
		published = append(published, fmt.Sprintf("%s:%d", pc.Published, pc.Target))
	}
	if w := []string{fmt.Sprintf("%s:%d", def.Port(), registryPort)}; !slices.Equal(published, w) {
		t.Errorf("%s ports %v; want %v (svc.DefaultRegistryURL's port on the host)", registryService, published, w)
	}

	clients := 0
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		s := p.Services[name]
		if env(s, "KAFKA_BROKERS") == "" {
			continue
		}
		clients++
		if got := env(s, "SCHEMA_REGISTRY_URL"); got != want {
			t.Errorf("%s: SCHEMA_REGISTRY_URL = %q; want %q", name, got, want)
		}
		dep, ok := s.DependsOn[registryService]
		switch {
		case !ok:
			t.Errorf("%s does not depend on %s; want condition %s", name, registryService, types.ServiceConditionHealthy)
		case dep.Condition != types.ServiceConditionHealthy:
			t.Errorf("%s depends on %s with condition %q; want %q", name, registryService, dep.Condition, types.ServiceConditionHealthy)
		}
	}
	if clients < len(httpServices) {
		t.Errorf("%d services set KAFKA_BROKERS; want at least the kit's %d", clients, len(httpServices))
	}
	if got := env(service(t, p, "kafka-ui"), "KAFKA_CLUSTERS_0_SCHEMAREGISTRY"); got != want {
		t.Errorf("kafka-ui KAFKA_CLUSTERS_0_SCHEMAREGISTRY = %q; want %q", got, want)
	}
}

// compose and the Kubernetes manifests run one registry image, the version
// the harness runs (harness/registry/pom.xml).
func TestComposeRegistryIsTheManifestsRegistry(t *testing.T) {
	compose := service(t, loadProject(t), registryService).Image
	k8s := k8sContainerImages(t, "schema-registry.yaml", "Deployment")
	if want := []string{compose}; !slices.Equal(k8s, want) {
		t.Errorf("deploy/k8s/schema-registry.yaml runs %v; want %v, compose's %s", k8s, want, registryService)
	}
	pom, err := os.ReadFile(filepath.Join("..", "registry", "pom.xml"))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := reference.ParseNormalizedNamed(compose)
	if err != nil {
		t.Fatalf("%s image %q: %v", registryService, compose, err)
	}
	tagged, ok := ref.(reference.Tagged)
	if !ok || !strings.Contains(string(pom), "<version>"+tagged.Tag()+"</version>") {
		t.Errorf("%s image %q; want the Apicurio version harness/registry/pom.xml runs", registryService, compose)
	}
}
