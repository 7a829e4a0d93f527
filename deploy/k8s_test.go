package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/distribution/reference"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	kustomize "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/svc"
	"github.com/kafkakit/kit/services/platform/svc/svctest"
)

// manifestDir holds the Kubernetes manifests and their kustomization.
const manifestDir = "k8s"

// kinds are the object kinds the manifests may hold, each with the type it
// is decoded into. A kind missing here fails the check: every object is
// decoded against a real schema.
var kinds = map[string]func() any{
	"v1/Namespace":                       func() any { return &corev1.Namespace{} },
	"v1/ConfigMap":                       func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                          func() any { return &corev1.Secret{} },
	"v1/Service":                         func() any { return &corev1.Service{} },
	"apps/v1/Deployment":                 func() any { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":                func() any { return &appsv1.StatefulSet{} },
	"policy/v1/PodDisruptionBudget":      func() any { return &policyv1.PodDisruptionBudget{} },
	strimziAPIVersion + "/Kafka":         func() any { return &Kafka{} },
	strimziAPIVersion + "/KafkaNodePool": func() any { return &KafkaNodePool{} },
	strimziAPIVersion + "/KafkaTopic":    func() any { return &KafkaTopic{} },
	strimziAPIVersion + "/KafkaUser":     func() any { return &KafkaUser{} },
}

// object is one decoded manifest.
type object struct {
	where string // file and document, for messages
	kind  string // apiVersion/kind
	name  string
	value any // *corev1.Service, *Kafka, …
}

// decodeStrict decodes one YAML document into the type its apiVersion and
// kind name, refusing unknown and duplicate fields.
func decodeStrict(where string, doc []byte) (object, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return object{}, fmt.Errorf("%s: %w", where, err)
	}
	kind := tm.APIVersion + "/" + tm.Kind
	newValue, ok := kinds[kind]
	if !ok {
		return object{}, fmt.Errorf("%s: no type to check %s against; add it to kinds", where, kind)
	}
	v := newValue()
	if err := unmarshalStrict(doc, v); err != nil {
		return object{}, fmt.Errorf("%s (%s): %w", where, kind, err)
	}
	meta, ok := v.(metav1.Object)
	if !ok {
		return object{}, fmt.Errorf("%s: %T has no metadata", where, v)
	}
	if meta.GetName() == "" {
		return object{}, fmt.Errorf("%s (%s): metadata.name is empty", where, kind)
	}
	return object{where: where, kind: kind, name: meta.GetName(), value: v}, nil
}

// unmarshalStrict decodes YAML the way the API server reads a request that
// asks for strict field validation: duplicate keys refused (YAML to JSON),
// then field names matched case-sensitively and unknown ones refused
// (sigs.k8s.io/json, the API machinery's decoder). encoding/json would match
// "targetport" to targetPort; the API server does not.
func unmarshalStrict(doc []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strictErrs, err := kjson.UnmarshalStrict(j, v)
	if err != nil {
		return err
	}
	return errors.Join(strictErrs...)
}

// documents splits a multi-document YAML file, dropping empty documents.
func documents(raw []byte) ([][]byte, error) {
	var out [][]byte
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		var probe map[string]any
		if err := yaml.Unmarshal(doc, &probe); err != nil {
			return nil, err
		}
		if len(probe) > 0 {
			out = append(out, doc)
		}
	}
}

// manifestFiles are the YAML files under k8s/ other than the kustomization.
func manifestFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(manifestDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(files, func(f string) bool { return filepath.Base(f) == "kustomization.yaml" })
}

// loadFiles decodes every document of every manifest file as written.
func loadFiles(t *testing.T) []object {
	t.Helper()
	var out []object
	for _, f := range manifestFiles(t) {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := documents(raw)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(docs) == 0 {
			t.Errorf("%s: no object", f)
		}
		for i, doc := range docs {
			o, err := decodeStrict(fmt.Sprintf("%s#%d", f, i+1), doc)
			if err != nil {
				t.Error(err)
				continue
			}
			out = append(out, o)
		}
	}
	return out
}

// build renders k8s/ with kustomize, as `kubectl apply -k deploy/k8s` does,
// and decodes every object it yields.
func build(t *testing.T) []object {
	t.Helper()
	dir, err := filepath.Abs(manifestDir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", manifestDir, err)
	}
	var out []object
	for _, r := range m.Resources() {
		doc, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		o, err := decodeStrict("kustomize build: "+r.CurId().String(), doc)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, o)
	}
	return out
}

// find returns the object of a kind and name, failing the test if absent.
func find[T any](t *testing.T, objs []object, name string) *T {
	t.Helper()
	for _, o := range objs {
		if v, ok := o.value.(*T); ok && o.name == name {
			return v
		}
	}
	var zero T
	t.Fatalf("no %T named %q in the manifests", zero, name)
	return nil
}

// all returns every object of a kind.
func all[T any](objs []object) []*T {
	var out []*T
	for _, o := range objs {
		if v, ok := o.value.(*T); ok {
			out = append(out, v)
		}
	}
	return out
}

func TestManifestsDecodeStrictly(t *testing.T) {
	objs := loadFiles(t)
	if len(objs) == 0 {
		t.Fatal("no manifests decoded")
	}
	seen := map[string]string{}
	for _, o := range objs {
		key := o.kind + " " + o.name
		if other, ok := seen[key]; ok {
			t.Errorf("%s: %s is also defined at %s", o.where, key, other)
		}
		seen[key] = o.where
		if errs := validation.IsDNS1123Subdomain(o.name); len(errs) > 0 {
			t.Errorf("%s: name %q: %v", o.where, o.name, errs)
		}
		if v, ok := o.value.(interface{ validate() []string }); ok {
			for _, e := range v.validate() {
				t.Errorf("%s: %s", o.where, e)
			}
		}
	}
}

// The strict decoder is what the other checks stand on: it must refuse what
// the API server would drop or reject.
func TestStrictDecodingRefusesWhatTheAPIWouldNot(t *testing.T) {
	tests := []struct{ name, doc, wantErr string }{
		{"misspelt Deployment field", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replica: 2}\n", "unknown field"},
		{"misspelt Service port field", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 80, targetport: 8080}]}\n", "unknown field"},
		{"bad quantity", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {template: {spec: {containers: [{name: c, resources: {requests: {cpu: lots}}}]}}}\n", "quantities must match"},
		{"duplicate field", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {A: a}\ndata: {B: b}\n", "duplicate"},
		{"kind without a type", "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n", "no type"},
		{"Strimzi field from v1beta2", "apiVersion: kafka.strimzi.io/v1\nkind: Kafka\nmetadata: {name: x}\nspec: {kafka: {listeners: [], replicas: 3}}\n", "unknown field"},
		{"misspelt KafkaTopic field", "apiVersion: kafka.strimzi.io/v1\nkind: KafkaTopic\nmetadata: {name: x}\nspec: {partition: 3}\n", "unknown field"},
		{"old Strimzi API", "apiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaTopic\nmetadata: {name: x}\nspec: {partitions: 3}\n", "no type"},
		{"no name", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", "metadata.name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeStrict(tc.name, []byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("decodeStrict = %v; want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

// The kustomization lists every manifest file and only those, and what it
// renders is what the files hold, in the kit's namespace.
func TestKustomizationRendersEveryManifest(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(manifestDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kustomize.Kustomization
	if err := unmarshalStrict(raw, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	var files []string
	for _, f := range manifestFiles(t) {
		files = append(files, filepath.Base(f))
	}
	resources := slices.Sorted(slices.Values(k.Resources))
	if !slices.Equal(resources, files) {
		t.Errorf("kustomization.yaml resources %v; want every manifest file, %v", resources, files)
	}
	if k.Namespace == "" {
		t.Fatal("kustomization.yaml sets no namespace")
	}

	built, files2 := build(t), loadFiles(t)
	if len(built) != len(files2) {
		t.Errorf("kustomize renders %d objects; the files hold %d", len(built), len(files2))
	}
	find[corev1.Namespace](t, built, k.Namespace)
	for _, o := range built {
		meta := o.value.(metav1.Object)
		if o.kind == "v1/Namespace" {
			continue
		}
		if meta.GetNamespace() != k.Namespace {
			t.Errorf("%s: namespace %q; want %q", o.where, meta.GetNamespace(), k.Namespace)
		}
	}
}

// containerPort returns the named or numbered port of a container.
func containerPort(c corev1.Container, p intstr.IntOrString) (int32, bool) {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

// checkHTTPProbe checks that a probe GETs path on the service's port and
// that the service serves that path.
func checkHTTPProbe(t *testing.T, what string, p *corev1.Probe, c corev1.Container, path string, port int32, src, platform serviceSource) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Errorf("%s: want an HTTP GET of %s", what, path)
		return
	}
	if p.HTTPGet.Path != path {
		t.Errorf("%s: path %q; want %q", what, p.HTTPGet.Path, path)
	}
	if got, ok := containerPort(c, p.HTTPGet.Port); !ok || got != port {
		t.Errorf("%s: port %s is container port %d; want %d", what, p.HTTPGet.Port.String(), got, port)
	}
	if !src.serves(path) && !platform.serves(path) {
		t.Errorf("%s: %s does not serve GET %s (routes %v)", what, src.name, path, src.routes)
	}
}

// checkRestricted holds a pod to Kubernetes' "restricted" Pod Security
// Standard, plus a read-only root file system and no service account token
// (the kit's pods do not talk to the API server).
func checkRestricted(t *testing.T, what string, pod corev1.PodSpec) {
	t.Helper()
	psc := pod.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Errorf("%s: uses the host's network, PID or IPC namespace", what)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("%s: automountServiceAccountToken not false; the kit's pods need no API access", what)
	}
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			t.Errorf("%s: volume %s is a hostPath", what, v.Name)
		}
	}
	for _, c := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
		where := what + " container " + c.Name
		sc := c.SecurityContext
		if sc == nil {
			t.Errorf("%s: no securityContext", where)
			continue
		}
		nonRoot := (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (sc.RunAsNonRoot == nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot)
		if !nonRoot {
			t.Errorf("%s: runAsNonRoot not true", where)
		}
		if uid := sc.RunAsUser; (uid != nil && *uid == 0) || (uid == nil && psc.RunAsUser != nil && *psc.RunAsUser == 0) {
			t.Errorf("%s: runs as uid 0", where)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: allowPrivilegeEscalation not false", where)
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Errorf("%s: privileged", where)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			t.Errorf("%s: capabilities do not drop ALL", where)
		} else if len(sc.Capabilities.Add) > 0 {
			t.Errorf("%s: adds capabilities %v", where, sc.Capabilities.Add)
		}
		seccomp := sc.SeccompProfile
		if seccomp == nil {
			seccomp = psc.SeccompProfile
		}
		if seccomp == nil || (seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault && seccomp.Type != corev1.SeccompProfileTypeLocalhost) {
			t.Errorf("%s: seccompProfile not RuntimeDefault or Localhost", where)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: readOnlyRootFilesystem not true", where)
		}
	}
}

// checkPinned reports an image that is neither a fixed tag nor a digest.
func checkPinned(t *testing.T, what, image string, wantDigest bool) {
	t.Helper()
	ref, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		t.Errorf("%s: image %q: %v", what, image, err)
		return
	}
	_, digested := ref.(reference.Digested)
	tagged, isTagged := ref.(reference.Tagged)
	switch {
	case wantDigest && !digested:
		t.Errorf("%s: image %q has no digest; a third-party image is pinned by the digest its publisher records", what, image)
	case !digested && !isTagged:
		t.Errorf("%s: image %q has neither tag nor digest", what, image)
	case !digested && tagged.Tag() == "latest":
		t.Errorf("%s: image %q is tagged latest", what, image)
	}
}

// sharedConfigMap is the ConfigMap every service takes its shared
// environment from.
const sharedConfigMap = "kafkakit-env"

// kafkaBootstrap is the address of the Strimzi cluster's TLS listener with
// SCRAM-SHA-512 sign-in (the only one: deploy/ is secure by default), as
// the operator names its bootstrap Service.
func kafkaBootstrap(t *testing.T, objs []object) string {
	t.Helper()
	kafkas := all[Kafka](objs)
	if len(kafkas) != 1 {
		t.Fatalf("%d Kafka resources; want 1", len(kafkas))
	}
	k := kafkas[0]
	for _, l := range k.Spec.Kafka.Listeners {
		if l.TLS == nil || !*l.TLS || l.Authentication == nil || l.Authentication.Type != "scram-sha-512" {
			t.Errorf("Kafka %s listener %s: tls %v, authentication %+v; want every listener TLS with scram-sha-512", k.Name, l.Name, l.TLS, l.Authentication)
			continue
		}
		if l.Type == "internal" && l.Port != nil {
			return fmt.Sprintf("%s-kafka-bootstrap:%d", k.Name, *l.Port)
		}
	}
	t.Fatalf("Kafka %s has no internal TLS + SCRAM listener for the services", k.Name)
	return ""
}

// The shared ConfigMap holds only what svc.Common reads, and read through
// svc.Common it names the Strimzi cluster and the kit's topics.
func TestSharedConfigIsWhatTheServicesRead(t *testing.T) {
	objs := build(t)
	cm := find[corev1.ConfigMap](t, objs, sharedConfigMap)
	common := commonEnv()
	for _, key := range slices.Sorted(maps.Keys(cm.Data)) {
		if !slices.Contains(common, key) {
			t.Errorf("ConfigMap %s: %s is not read by svc.Common (which reads %v); service-specific settings belong in a Deployment", cm.Name, key, common)
		}
	}
	env := svc.NewEnv(func(k string) string { return cm.Data[k] })
	c := env.Common()
	if err := env.Err(); err != nil {
		t.Fatalf("svc.Common refuses ConfigMap %s: %v", cm.Name, err)
	}
	if got, want := c.Brokers, []string{kafkaBootstrap(t, objs)}; !slices.Equal(got, want) {
		t.Errorf("KAFKA_BROKERS %v; want %v, the Strimzi cluster's TLS + SCRAM listener", got, want)
	}
}

// secretValue returns the value of a Secret's key, failing if absent. The
// Secrets Strimzi's operators make (a KafkaUser's, the cluster CA's) are
// not in the manifests: a reference to one is checked for its key and
// stands for a placeholder.
func secretValue(t *testing.T, objs []object, ref *corev1.SecretKeySelector) string {
	t.Helper()
	if keys, ok := strimziSecrets(objs)[ref.Name]; ok {
		if !slices.Contains(keys, ref.Key) {
			t.Fatalf("Secret %s (made by Strimzi) has no key %s; it has %v", ref.Name, ref.Key, keys)
		}
		return "made-by-strimzi"
	}
	s := find[corev1.Secret](t, objs, ref.Name)
	if v, ok := s.StringData[ref.Key]; ok {
		return v
	}
	if v, ok := s.Data[ref.Key]; ok {
		return string(v)
	}
	t.Fatalf("Secret %s has no key %s", ref.Name, ref.Key)
	return ""
}

// postgres describes the PostgreSQL the manifests run.
type postgres struct {
	host, user, password string
	port                 int32
	databases            []string
	defaultDB            string // POSTGRES_DB, which the image creates
}

// hasDatabase reports whether db is one the manifests' PostgreSQL has.
func (pg postgres) hasDatabase(db string) bool {
	return db != "" && (db == pg.defaultDB || slices.Contains(pg.databases, db))
}

var createDatabase = regexp.MustCompile(`(?im)^\s*CREATE\s+DATABASE\s+([a-z_][a-z0-9_]*)\s*;`)

func readPostgres(t *testing.T, objs []object) postgres {
	t.Helper()
	ss := find[appsv1.StatefulSet](t, objs, "postgres")
	svc := find[corev1.Service](t, objs, ss.Spec.ServiceName)
	if len(svc.Spec.Ports) != 1 {
		t.Fatalf("Service %s ports %v; want one", svc.Name, svc.Spec.Ports)
	}
	c := ss.Spec.Template.Spec.Containers[0]
	pg := postgres{host: svc.Name, port: svc.Spec.Ports[0].Port}
	for _, e := range c.Env {
		switch {
		case e.Name == "POSTGRES_USER":
			pg.user = e.Value
		case e.Name == "POSTGRES_DB":
			pg.defaultDB = e.Value
		case e.Name == "POSTGRES_PASSWORD" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			pg.password = secretValue(t, objs, e.ValueFrom.SecretKeyRef)
		}
	}
	for _, cm := range all[corev1.ConfigMap](objs) {
		for _, v := range cm.Data {
			for _, m := range createDatabase.FindAllStringSubmatch(v, -1) {
				pg.databases = append(pg.databases, m[1])
			}
		}
	}
	return pg
}

// checkPostgresDSN checks that a DSN reaches the manifests' PostgreSQL with
// its credentials and one of the databases it creates.
func checkPostgresDSN(t *testing.T, what, dsn string, pg postgres) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Errorf("%s: DSN does not parse", what) // the error would echo the password
		return ""
	}
	password, _ := u.User.Password()
	db := strings.TrimPrefix(u.Path, "/")
	for _, c := range []struct{ field, got, want string }{
		{"scheme", u.Scheme, "postgres"},
		{"host", u.Host, fmt.Sprintf("%s:%d", pg.host, pg.port)},
		{"user", u.User.Username(), pg.user},
		{"password", password, pg.password},
	} {
		if c.got != c.want {
			t.Errorf("%s: DSN %s %q; want %q", what, c.field, c.got, c.want)
		}
	}
	if !slices.Contains(pg.databases, db) {
		t.Errorf("%s: DSN database %q is not one postgres creates (%v)", what, db, pg.databases)
	}
	return db
}

// Every Deployment runs its service the way the service's own source says it
// runs: port, environment, probes, user; with replicas, a disruption budget,
// resources and the restricted security profile.
func TestDeploymentsMatchTheServices(t *testing.T) {
	objs := build(t)
	platform := platformSource(t)
	pg := readPostgres(t, objs)
	databases := map[string]string{}
	for _, name := range kitServices(t) {
		t.Run(name, func(t *testing.T) {
			src := readService(t, name)
			reader := newEnvReader(t, name)
			port := src.port(t)
			d := find[appsv1.Deployment](t, objs, name)
			pod := d.Spec.Template

			selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
			if err != nil || selector.Empty() || !selector.Matches(labels.Set(pod.Labels)) {
				t.Fatalf("selector %v does not select the pod template's labels %v (%v)", d.Spec.Selector, pod.Labels, err)
			}
			if len(pod.Spec.Containers) != 1 {
				t.Fatalf("%d containers; want the service alone", len(pod.Spec.Containers))
			}
			c := pod.Spec.Containers[0]
			if c.Name != name {
				t.Errorf("container %q; want %q", c.Name, name)
			}
			checkPinned(t, "container "+c.Name, c.Image, false)
			if ref, err := reference.ParseNormalizedNamed(c.Image); err == nil {
				if got, want := reference.FamiliarName(ref), "kafkakit/"+name; got != want {
					t.Errorf("image %q; want %s, what `docker compose build` tags", c.Image, want)
				}
			}

			// Port: the service's default, named for the probes and Service.
			if got, ok := containerPort(c, intstr.FromString("http")); !ok || got != port {
				t.Errorf("container port http = %d (present %v); want %d, the port of %s's default HTTP_ADDR", got, ok, port, name)
			}

			// Environment: every name is one the service reads.
			for _, e := range c.Env {
				if !reader.reads(e.Name) {
					t.Errorf("env %s: %s never reads it", e.Name, name)
				}
				if e.Name == "HTTP_ADDR" && e.Value != src.env["HTTP_ADDR"] {
					t.Errorf("HTTP_ADDR %q; want %q, the service's own default, which the container port is", e.Value, src.env["HTTP_ADDR"])
				}
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					secretValue(t, objs, e.ValueFrom.SecretKeyRef)
				}
				if e.Name == "ADMIN_TOKEN" && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
					t.Errorf("ADMIN_TOKEN is a literal; want it from a Secret")
				}
			}
			sharesConfig := false
			for _, ef := range c.EnvFrom {
				if ef.ConfigMapRef == nil {
					t.Errorf("envFrom %+v; want ConfigMaps only", ef)
					continue
				}
				sharesConfig = sharesConfig || ef.ConfigMapRef.Name == sharedConfigMap
				for key := range find[corev1.ConfigMap](t, objs, ef.ConfigMapRef.Name).Data {
					if !reader.reads(key) {
						t.Errorf("ConfigMap %s sets %s, which %s never reads", ef.ConfigMapRef.Name, key, name)
					}
				}
			}
			if !sharesConfig {
				t.Errorf("envFrom does not include ConfigMap %s, the shared environment", sharedConfigMap)
			}

			// The whole environment, read by svc.Common as the service will:
			// a value it would refuse at start-up (a short ADMIN_TOKEN, a
			// malformed host list or DSN) fails here.
			environ := containerEnv(t, objs, c)
			if environ["KAFKA_CA_FILE"] != "" {
				// The cluster's CA exists only in a running cluster;
				// TestDeploymentsSignInAsTheirPrincipal checks the mount.
				environ["KAFKA_CA_FILE"] = svctest.WriteCA(t)
			}
			getenv := func(k string) string { return environ[k] }
			parsed := svc.NewEnv(getenv)
			common := parsed.Common()
			if err := parsed.Err(); err != nil {
				t.Errorf("svc.Common refuses the container's environment: %v", err)
			}
			hosts, err := common.HTTP(name).Hosts()
			if err != nil {
				t.Errorf("Host allow-list: %v", err)
			}
			for _, host := range []string{name, fmt.Sprintf("%s:%d", name, port), fmt.Sprintf("%s.%s.svc:%d", name, d.Namespace, port)} {
				if !hosts.Allows(host) {
					t.Errorf("Host %q is refused (ALLOWED_HOSTS %q); want the Service's names answered", host, environ["ALLOWED_HOSTS"])
				}
			}

			// Probes: readiness gates traffic and rollouts, liveness restarts.
			checkHTTPProbe(t, "readinessProbe", c.ReadinessProbe, c, "/readyz", port, src, platform)
			checkHTTPProbe(t, "livenessProbe", c.LivenessProbe, c, "/healthz", port, src, platform)
			if a := pod.Annotations; a["prometheus.io/port"] != strconv.Itoa(int(port)) || a["prometheus.io/path"] != "/metrics" {
				t.Errorf("prometheus.io annotations %v; want port %d and path /metrics", a, port)
			}

			// Replicas: at least two; a group consumer's extra replicas
			// beyond the partition count would sit idle.
			replicas := int32(1)
			if d.Spec.Replicas != nil {
				replicas = *d.Spec.Replicas
			}
			if replicas < 2 {
				t.Errorf("replicas %d; want at least 2", replicas)
			}
			if len(src.groups) > 0 && replicas > events.Partitions {
				t.Errorf("replicas %d in group %v; want at most events.Partitions (%d), the work a group can share", replicas, src.groups, events.Partitions)
			}

			// State: several replicas share one database, never a file each.
			if _, readsDSN := src.env["DB_DSN"]; readsDSN || slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "DB_DSN" }) {
				var dsnRef *corev1.SecretKeySelector
				for _, e := range c.Env {
					if e.Name == "DB_DSN" && e.ValueFrom != nil {
						dsnRef = e.ValueFrom.SecretKeyRef
					}
				}
				if dsnRef == nil {
					t.Errorf("DB_DSN does not come from a Secret; %d replicas need one shared PostgreSQL", replicas)
				} else if db := checkPostgresDSN(t, "DB_DSN", secretValue(t, objs, dsnRef), pg); db != "" {
					if other, ok := databases[db]; ok {
						t.Errorf("database %q is %s's too; want one per service", db, other)
					}
					databases[db] = name
				}
			}

			// Resources: requests for scheduling, a memory limit.
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
				t.Errorf("resources.requests %v; want cpu and memory", c.Resources.Requests)
			}
			if c.Resources.Limits.Memory().IsZero() {
				t.Errorf("resources.limits %v; want memory", c.Resources.Limits)
			}

			// Security: restricted, as the image's own user.
			checkRestricted(t, "Deployment "+name, pod.Spec)
			if got := podUser(pod.Spec.SecurityContext); got != src.user {
				t.Errorf("pod runs as %s (runAsUser:runAsGroup); want %s, the Dockerfile's USER", got, src.user)
			}

			// Service: the same port, selecting these pods.
			s := find[corev1.Service](t, objs, name)
			if !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(pod.Labels)) || len(s.Spec.Selector) == 0 {
				t.Errorf("Service selector %v does not select the pods (%v)", s.Spec.Selector, pod.Labels)
			}
			if len(s.Spec.Ports) != 1 {
				t.Fatalf("Service ports %v; want one", s.Spec.Ports)
			}
			sp := s.Spec.Ports[0]
			if got, ok := containerPort(c, sp.TargetPort); sp.Port != port || !ok || got != port {
				t.Errorf("Service port %d -> %s (container port %d); want %d -> %d", sp.Port, sp.TargetPort.String(), got, port, port)
			}

			// PodDisruptionBudget: a drain takes pods one at a time, and can.
			pdb := find[policyv1.PodDisruptionBudget](t, objs, name)
			pdbSel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
			if err != nil || pdbSel.Empty() || !pdbSel.Matches(labels.Set(pod.Labels)) {
				t.Errorf("PodDisruptionBudget selector %v does not select the pods (%v)", pdb.Spec.Selector, err)
			}
			allowed := disruptionsAllowed(t, pdb.Spec, replicas)
			if allowed < 1 || allowed >= int(replicas) {
				t.Errorf("PodDisruptionBudget allows %d of %d replicas down; want at least 1 (else no node drains) and fewer than all", allowed, replicas)
			}
		})
	}
}

// podUser is a pod's runAsUser:runAsGroup, "unset" parts spelt out.
func podUser(psc *corev1.PodSecurityContext) string {
	id := func(p *int64) string {
		if p == nil {
			return "unset"
		}
		return strconv.FormatInt(*p, 10)
	}
	if psc == nil {
		return "unset:unset"
	}
	return id(psc.RunAsUser) + ":" + id(psc.RunAsGroup)
}

// containerEnv is a container's environment as the kubelet builds it:
// envFrom ConfigMaps, then env entries (literal or from a Secret or
// ConfigMap key). Values from the downward API are left out: they are only
// known in a running pod.
func containerEnv(t *testing.T, objs []object, c corev1.Container) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef != nil {
			maps.Copy(out, find[corev1.ConfigMap](t, objs, ef.ConfigMapRef.Name).Data)
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			out[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			out[e.Name] = secretValue(t, objs, e.ValueFrom.SecretKeyRef)
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			v, ok := find[corev1.ConfigMap](t, objs, ref.Name).Data[ref.Key]
			if !ok {
				t.Errorf("env %s: ConfigMap %s has no key %s", e.Name, ref.Name, ref.Key)
			}
			out[e.Name] = v
		}
	}
	return out
}

// disruptionsAllowed is how many of replicas pods a budget lets go at once.
func disruptionsAllowed(t *testing.T, spec policyv1.PodDisruptionBudgetSpec, replicas int32) int {
	t.Helper()
	switch {
	case spec.MaxUnavailable != nil && spec.MinAvailable == nil:
		n, err := intstr.GetScaledValueFromIntOrPercent(spec.MaxUnavailable, int(replicas), false)
		if err != nil {
			t.Fatal(err)
		}
		return n
	case spec.MinAvailable != nil && spec.MaxUnavailable == nil:
		n, err := intstr.GetScaledValueFromIntOrPercent(spec.MinAvailable, int(replicas), true)
		if err != nil {
			t.Fatal(err)
		}
		return int(replicas) - n
	}
	t.Fatalf("PodDisruptionBudget %+v; want exactly one of minAvailable and maxUnavailable", spec)
	return 0
}

// The manifests run PostgreSQL with the databases the services' DSNs name,
// created by the same statements compose uses.
func TestPostgres(t *testing.T) {
	objs := build(t)
	ss := find[appsv1.StatefulSet](t, objs, "postgres")
	checkRestricted(t, "StatefulSet postgres", ss.Spec.Template.Spec)
	for _, c := range ss.Spec.Template.Spec.Containers {
		checkPinned(t, "StatefulSet postgres", c.Image, true)
		if c.ReadinessProbe == nil || c.LivenessProbe == nil {
			t.Errorf("container %s: want readiness and liveness probes", c.Name)
		}
	}
	if len(ss.Spec.VolumeClaimTemplates) == 0 {
		t.Error("no volumeClaimTemplates; the database would not outlive its pod")
	}
	pg := readPostgres(t, objs)
	if pg.user == "" || pg.password == "" || len(pg.databases) == 0 {
		t.Errorf("postgres user %q, password set %v, databases %v; want all", pg.user, pg.password != "", pg.databases)
	}

	initdb := find[corev1.ConfigMap](t, objs, "postgres-initdb")
	compose, err := os.ReadFile(filepath.Join("postgres", "initdb", "databases.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if got := initdb.Data["databases.sql"]; got != string(compose) {
		t.Errorf("ConfigMap postgres-initdb databases.sql:\n%s\nwant deploy/postgres/initdb/databases.sql (what compose runs):\n%s", got, compose)
	}
}

// Every third-party image is pinned by digest; the kit's own by tag, set in
// the kustomization (a registry digest once pushed).
func TestImagesArePinned(t *testing.T) {
	for _, o := range build(t) {
		var pod *corev1.PodSpec
		switch v := o.value.(type) {
		case *appsv1.Deployment:
			pod = &v.Spec.Template.Spec
		case *appsv1.StatefulSet:
			pod = &v.Spec.Template.Spec
		default:
			continue
		}
		for _, c := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
			ownImage := strings.HasPrefix(c.Image, "kafkakit/")
			checkPinned(t, o.where+" container "+c.Name, c.Image, !ownImage && !tagPinned(c.Image))
		}
	}
}

// tagPinned reports a third-party image whose publisher records no digest,
// so that the manifests pin it by version tag alone (say why next to it).
func tagPinned(image string) bool {
	ref, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return false
	}
	// Apicurio publishes no image digests in its release notes.
	return reference.FamiliarName(ref) == registryImage
}

// A three-broker KRaft cluster with the delivery settings the kit relies on.
func TestKafkaCluster(t *testing.T) {
	objs := build(t)
	kafkas := all[Kafka](objs)
	if len(kafkas) != 1 {
		t.Fatalf("%d Kafka resources; want 1", len(kafkas))
	}
	k := kafkas[0]
	brokers, controllers := int32(0), int32(0)
	for _, np := range all[KafkaNodePool](objs) {
		if np.Labels[strimziClusterLabel] != k.Name {
			t.Errorf("KafkaNodePool %s: label %s=%q; want %q", np.Name, strimziClusterLabel, np.Labels[strimziClusterLabel], k.Name)
		}
		if np.Spec.Replicas == nil {
			continue
		}
		if slices.Contains(np.Spec.Roles, "broker") {
			brokers += *np.Spec.Replicas
		}
		if slices.Contains(np.Spec.Roles, "controller") {
			controllers += *np.Spec.Replicas
		}
		if np.Spec.Resources == nil || np.Spec.Resources.Limits.Memory().IsZero() {
			t.Errorf("KafkaNodePool %s: no memory limit", np.Name)
		}
	}
	if brokers != 3 {
		t.Errorf("%d brokers; want 3", brokers)
	}
	if controllers < 3 || controllers%2 == 0 {
		t.Errorf("%d controllers; want an odd number, at least 3 (a Raft quorum that survives one loss)", controllers)
	}
	for key, want := range map[string]string{
		"default.replication.factor":               "3",
		"min.insync.replicas":                      "2",
		"offsets.topic.replication.factor":         "3",
		"transaction.state.log.replication.factor": "3",
		"transaction.state.log.min.isr":            "2",
		"unclean.leader.election.enable":           "false",
		"auto.create.topics.enable":                "false",
	} {
		if got := fmt.Sprint(k.Spec.Kafka.Config[key]); got != want {
			t.Errorf("Kafka %s config %s = %s; want %s", k.Name, key, got, want)
		}
	}
	if k.Spec.EntityOperator == nil || k.Spec.EntityOperator.TopicOperator == nil {
		t.Errorf("Kafka %s: no entityOperator.topicOperator; the KafkaTopic resources would create nothing", k.Name)
	}
}

// Every kit topic and its dead-letter topic has a KafkaTopic, and nothing
// else does, with the kit's partition count and the cluster's replication.
func TestKafkaTopicsAreTheKitsTopics(t *testing.T) {
	objs := build(t)
	k := all[Kafka](objs)[0]
	var want []string
	for _, topic := range events.Topics {
		want = append(want, topic, events.DLQ(topic))
	}
	var got []string
	for _, kt := range all[KafkaTopic](objs) {
		topic := kt.Topic()
		got = append(got, topic)
		if kt.Labels[strimziClusterLabel] != k.Name {
			t.Errorf("KafkaTopic %s: label %s=%q; want %q", kt.Name, strimziClusterLabel, kt.Labels[strimziClusterLabel], k.Name)
		}
		if p := kt.Spec.Partitions; p == nil || *p != events.Partitions {
			t.Errorf("KafkaTopic %s: partitions %v; want events.Partitions, %d", topic, deref(p), events.Partitions)
		}
		if r := kt.Spec.Replicas; r == nil || *r != 3 {
			t.Errorf("KafkaTopic %s: replicas %v; want 3", topic, deref(r))
		}
		if got := fmt.Sprint(kt.Spec.Config["min.insync.replicas"]); got != "2" {
			t.Errorf("KafkaTopic %s: min.insync.replicas %s; want 2", topic, got)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("KafkaTopics for %v; want one per kit topic and dead-letter topic, %v", got, want)
	}
}

func deref(p *int32) any {
	if p == nil {
		return "unset"
	}
	return *p
}
