package deploy

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/distribution/reference"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kafkakit/kit/services/platform/svc"
)

// The schema registry: Apicurio Registry, the harness's registry beside real
// Kafka (harness/registry), serving its Confluent-compatible API on
// registryCcompatPath.
const (
	registryName        = "schema-registry"
	registryImage       = "apicurio/apicurio-registry"
	registryTag         = "3.0.9"
	registryCcompatPath = "/apis/ccompat/v7"
)

// Every service frames its records with schema ids from the registry and is
// not ready without it: the shared environment names the registry's
// Service, and the registry runs, probed on Quarkus' health endpoints,
// storing in the kit's PostgreSQL so that ids outlive a restart and its
// replicas agree on them.
func TestSchemaRegistry(t *testing.T) {
	objs := build(t)
	d := find[appsv1.Deployment](t, objs, registryName)
	pod := d.Spec.Template
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%d containers; want the registry alone", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	if ref, err := reference.ParseNormalizedNamed(c.Image); err != nil {
		t.Errorf("image %q: %v", c.Image, err)
	} else if tagged, ok := ref.(reference.Tagged); !ok || reference.FamiliarName(ref) != registryImage || tagged.Tag() != registryTag {
		t.Errorf("image %q; want %s:%s, the version the harness runs", c.Image, registryImage, registryTag)
	}
	port, ok := containerPort(c, intstr.FromString("http"))
	if !ok {
		t.Fatalf("container ports %v; want one named http", c.Ports)
	}

	// The services' SCHEMA_REGISTRY_URL, read through svc.Common, is the
	// registry's Service on the container's port.
	cm := find[corev1.ConfigMap](t, objs, sharedConfigMap)
	env := svc.NewEnv(func(k string) string { return cm.Data[k] })
	common := env.Common()
	if err := env.Err(); err != nil {
		t.Fatalf("svc.Common refuses ConfigMap %s: %v", cm.Name, err)
	}
	s := find[corev1.Service](t, objs, registryName)
	if len(s.Spec.Ports) != 1 {
		t.Fatalf("Service ports %v; want one", s.Spec.Ports)
	}
	sp := s.Spec.Ports[0]
	if got, ok := containerPort(c, sp.TargetPort); !ok || got != port {
		t.Errorf("Service port %d -> %s (container port %d); want -> %d", sp.Port, sp.TargetPort.String(), got, port)
	}
	if len(s.Spec.Selector) == 0 || !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(pod.Labels)) {
		t.Errorf("Service selector %v does not select the pods (%v)", s.Spec.Selector, pod.Labels)
	}
	if want := fmt.Sprintf("http://%s:%d%s", s.Name, sp.Port, registryCcompatPath); common.RegistryURL != want {
		t.Errorf("ConfigMap %s SCHEMA_REGISTRY_URL %q; want %q", cm.Name, common.RegistryURL, want)
	}

	// Probes: Quarkus' health endpoints, at the root (Apicurio sets
	// quarkus.http.non-application-root-path=/).
	for _, p := range []struct {
		what  string
		probe *corev1.Probe
		path  string
	}{
		{"startupProbe", c.StartupProbe, "/health/started"},
		{"readinessProbe", c.ReadinessProbe, "/health/ready"},
		{"livenessProbe", c.LivenessProbe, "/health/live"},
	} {
		switch {
		case p.probe == nil || p.probe.HTTPGet == nil:
			t.Errorf("%s: want an HTTP GET of %s", p.what, p.path)
		case p.probe.HTTPGet.Path != p.path:
			t.Errorf("%s: path %q; want %q", p.what, p.probe.HTTPGet.Path, p.path)
		default:
			if got, ok := containerPort(c, p.probe.HTTPGet.Port); !ok || got != port {
				t.Errorf("%s: port %s is container port %d; want %d", p.what, p.probe.HTTPGet.Port.String(), got, port)
			}
		}
	}

	// Storage: SQL on the manifests' PostgreSQL, with its credentials.
	environ := containerEnv(t, objs, c)
	for key, want := range map[string]string{"APICURIO_STORAGE_KIND": "sql", "APICURIO_STORAGE_SQL_KIND": "postgresql"} {
		if got := environ[key]; got != want {
			t.Errorf("%s = %q; want %q (in memory, every restart would orphan the ids on records already in Kafka)", key, got, want)
		}
	}
	pg := readPostgres(t, objs)
	jdbc, ok := strings.CutPrefix(environ["APICURIO_DATASOURCE_URL"], "jdbc:")
	if !ok {
		t.Errorf("APICURIO_DATASOURCE_URL %q; want a jdbc:postgresql:// URL", environ["APICURIO_DATASOURCE_URL"])
	}
	u, err := url.Parse(jdbc)
	switch {
	case err != nil:
		t.Errorf("APICURIO_DATASOURCE_URL %q: %v", environ["APICURIO_DATASOURCE_URL"], err)
	case u.Scheme != "postgresql" || u.Host != fmt.Sprintf("%s:%d", pg.host, pg.port):
		t.Errorf("APICURIO_DATASOURCE_URL %q; want jdbc:postgresql://%s:%d/<database>", environ["APICURIO_DATASOURCE_URL"], pg.host, pg.port)
	case !pg.hasDatabase(strings.TrimPrefix(u.Path, "/")):
		t.Errorf("APICURIO_DATASOURCE_URL database %q is not one postgres has (%v, or POSTGRES_DB %q)", u.Path, pg.databases, pg.defaultDB)
	}
	if got := environ["APICURIO_DATASOURCE_USERNAME"]; got != pg.user {
		t.Errorf("APICURIO_DATASOURCE_USERNAME %q; want %q", got, pg.user)
	}
	if environ["APICURIO_DATASOURCE_PASSWORD"] != pg.password {
		t.Errorf("APICURIO_DATASOURCE_PASSWORD is not postgres's password")
	}
	for _, e := range c.Env {
		if e.Name == "APICURIO_DATASOURCE_PASSWORD" && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
			t.Errorf("APICURIO_DATASOURCE_PASSWORD is a literal; want it from a Secret")
		}
	}

	// Replicas share that storage; a drain takes one at a time.
	replicas := int32(1)
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	if replicas < 2 {
		t.Errorf("replicas %d; want at least 2 (every service is unready while the registry is away)", replicas)
	}
	pdb := find[policyv1.PodDisruptionBudget](t, objs, registryName)
	if sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
		t.Errorf("PodDisruptionBudget selector %v does not select the pods (%v)", pdb.Spec.Selector, err)
	}
	if allowed := disruptionsAllowed(t, pdb.Spec, replicas); allowed < 1 || allowed >= int(replicas) {
		t.Errorf("PodDisruptionBudget allows %d of %d replicas down; want at least 1 and fewer than all", allowed, replicas)
	}

	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %v; want cpu and memory requests and a memory limit", c.Resources)
	}
	checkRestricted(t, "Deployment "+registryName, pod.Spec)
}
