package deploy

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/kafkakit/kit/harness"
	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/svc"
)

// The secure profile, checked offline (no Docker engine runs these tests):
// what docker compose would be given, not what a broker would do with it.
// The scenarios on real Kafka (features/security.feature) prove the same
// settings on the harness's broker.

// secureEnvFile is the env file the README's secure command passes.
var secureEnvFile = filepath.Join(repoRoot, "deploy", "compose", "secure.env")

// kafkaSecretsVolume holds the secure profile's CA, broker keystore and the
// kit's client settings.
const kafkaSecretsVolume = "kafka-secrets"

// outsider is the user with no ACL that compose creates, as `kit up` does.
const outsider = "outsider"

func loadSecure(t *testing.T) *types.Project {
	t.Helper()
	return loadProject(t, cli.WithEnvFiles(secureEnvFile), cli.WithDotEnv, cli.WithDefaultProfiles())
}

// script is a one-shot's shell script.
func script(s types.ServiceConfig) string {
	return strings.Join(append(slices.Clone([]string(s.Entrypoint)), s.Command...), "\n")
}

// commandLines are the lines of a script that run cmd, as their fields.
func commandLines(s types.ServiceConfig, cmd string) [][]string {
	var out [][]string
	for _, line := range strings.Split(script(s), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == cmd {
			out = append(out, f)
		}
	}
	return out
}

// flag is the value after name in fields, "" when absent.
func flag(fields []string, name string) string {
	if i := slices.Index(fields, name); i >= 0 && i+1 < len(fields) {
		return fields[i+1]
	}
	return ""
}

// servicePrincipals are the principals that are services, by name.
func servicePrincipals() []events.Principal {
	var out []events.Principal
	for _, p := range events.Principals {
		if !p.Super {
			out = append(out, p)
		}
	}
	return out
}

func TestComposeSecureProfileLocksKafkaDown(t *testing.T) {
	p := loadSecure(t)
	kafka := service(t, p, "kafka")
	for _, pair := range strings.Split(env(kafka, "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"), ",") {
		name, proto, _ := strings.Cut(pair, ":")
		if proto != "SASL_SSL" {
			t.Errorf("listener %s protocol %q; want SASL_SSL under the secure profile", name, proto)
		}
	}
	for key, want := range map[string]string{
		"KAFKA_AUTHORIZER_CLASS_NAME":                "kafka.security.authorizer.AclAuthorizer",
		"KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND":       "false",
		"KAFKA_SASL_ENABLED_MECHANISMS":              "SCRAM-SHA-512",
		"KAFKA_SASL_MECHANISM_INTER_BROKER_PROTOCOL": "SCRAM-SHA-512",
		"KAFKA_SUPER_USERS":                          "User:broker;User:kit",
		"KAFKA_SSL_TRUSTSTORE_LOCATION":              "/kafka-secrets/ca.pem",
		"KAFKA_SSL_KEYSTORE_LOCATION":                "/kafka-secrets/kafka.p12",
	} {
		if got := env(kafka, key); got != want {
			t.Errorf("kafka %s = %q; want %q", key, got, want)
		}
	}
	// cp-kafka turns SCRAM___SHA___512 into scram-sha-512: a JAAS entry per
	// listener, the internal one also the broker's own sign-in.
	for _, l := range []string{"INTERNAL", "EXTERNAL"} {
		if jaas := env(kafka, "KAFKA_LISTENER_NAME_"+l+"_SCRAM___SHA___512_SASL_JAAS_CONFIG"); !strings.Contains(jaas, "ScramLoginModule required") {
			t.Errorf("kafka listener %s JAAS %q; want ScramLoginModule", l, jaas)
		}
	}
	brokerPassword := env(service(t, p, "kafka-certs"), "BROKER_KAFKA_PASSWORD")
	if jaas := env(kafka, "KAFKA_LISTENER_NAME_INTERNAL_SCRAM___SHA___512_SASL_JAAS_CONFIG"); brokerPassword == "" ||
		!strings.Contains(jaas, `username="broker" password="`+brokerPassword+`"`) {
		t.Errorf("kafka's inter-broker JAAS %q; want user broker with the password kafka-certs stores (%q)", jaas, brokerPassword)
	}
	if got, want := env(kafka, "KAFKA_SSL_KEYSTORE_PASSWORD"), env(service(t, p, "kafka-certs"), "KAFKA_KEYSTORE_PASSWORD"); got != want || got == "" {
		t.Errorf("kafka keystore password %q; want %q, the one kafka-certs makes the keystore with", got, want)
	}
	if hc := healthcheckCommand(kafka); !strings.Contains(hc, "--command-config /kafka-secrets/kit.properties") {
		t.Errorf("kafka healthcheck %q; want it to sign in as the kit", hc)
	}
	if dep, ok := kafka.DependsOn["kafka-certs"]; !ok || dep.Condition != types.ServiceConditionCompletedSuccessfully {
		t.Errorf("kafka does not wait for kafka-certs to complete: its certificate and users come from there")
	}
	checkSecretsMounted(t, kafka, false)
}

// kafka-certs makes the TLS material with SANs the clients dial, and
// stores the bootstrap users in ZooKeeper before the broker starts.
func TestComposeSecureProfileMakesItsCertificateAndBootstrapUsers(t *testing.T) {
	certs := service(t, loadSecure(t), "kafka-certs")
	checkSecretsMounted(t, certs, true)
	sc := script(certs)
	for _, want := range []string{"SAN=dns:kafka,dns:localhost,ip:127.0.0.1", "ca.pem", "kafka.p12", "kit.properties"} {
		if !strings.Contains(sc, want) {
			t.Errorf("kafka-certs' script lacks %q", want)
		}
	}
	var users []string
	for _, f := range commandLines(certs, "kafka-configs") {
		if flag(f, "--zookeeper") != "zookeeper:2181" {
			t.Errorf("kafka-certs: %q; want the user stored in ZooKeeper, before the broker starts", strings.Join(f, " "))
		}
		users = append(users, flag(f, "--entity-name"))
	}
	if want := []string{"broker", events.PrincipalKit}; !slices.Equal(users, want) {
		t.Errorf("kafka-certs creates users %v; want %v", users, want)
	}
}

// kafka-init creates every service's user and the outsider, and exactly the
// ACLs of events.Principals.
func TestComposeSecureProfileCreatesThePrincipalsAndTheirACLs(t *testing.T) {
	p := loadSecure(t)
	init := service(t, p, "kafka-init")
	checkSecretsMounted(t, init, false)
	var users []string
	for _, f := range commandLines(init, "kafka-configs") {
		users = append(users, flag(f, "--entity-name"))
		if !slices.Contains(f, "$CFG") {
			t.Errorf("kafka-init: %q does not sign in as the kit", strings.Join(f, " "))
		}
	}
	var want []string
	for _, pr := range servicePrincipals() {
		want = append(want, pr.Name)
	}
	want = append(want, outsider)
	if !slices.Equal(users, want) {
		t.Errorf("kafka-init creates users %v; want %v", users, want)
	}

	var got []string
	for _, f := range commandLines(init, "kafka-acls") {
		line := strings.Join(f, " ")
		if !slices.Contains(f, "--add") || flag(f, "--resource-pattern-type") != "literal" || !slices.Contains(f, "$CFG") {
			t.Errorf("kafka-init: %q; want --add, --resource-pattern-type literal, signed in as the kit", line)
		}
		resource, name := events.ResourceTopic, flag(f, "--topic")
		if name == "" {
			resource, name = events.ResourceGroup, flag(f, "--group")
		}
		got = append(got, fmt.Sprintf("%s %s %s %s", strings.TrimPrefix(flag(f, "--allow-principal"), "User:"), resource, name, flag(f, "--operation")))
	}
	var wantACLs []string
	for _, pr := range servicePrincipals() {
		for _, g := range pr.Grants {
			wantACLs = append(wantACLs, fmt.Sprintf("%s %s %s %s", pr.Name, g.Resource, g.Name, g.Operation))
		}
	}
	slices.Sort(got)
	slices.Sort(wantACLs)
	if !slices.Equal(got, wantACLs) {
		t.Errorf("kafka-init's ACLs\n  %v\nwant events.Principals' grants\n  %v", got, wantACLs)
	}

	// Without the env file kafka-init creates no user: the block is
	// guarded by KAFKA_SASL, which is then empty.
	if plain := env(service(t, loadProject(t), "kafka-init"), "KAFKA_SASL"); plain != "" {
		t.Errorf("kafka-init KAFKA_SASL %q by default; want empty (plaintext)", plain)
	}
	if !strings.Contains(script(init), `if [ -n "$KAFKA_SASL" ]`) {
		t.Errorf("kafka-init's users and ACLs are not guarded by KAFKA_SASL")
	}
}

// Each service signs in as its own principal with the password kafka-init
// gave that user, and trusts the CA kafka-certs made; read by svc as the
// service will. Without the env file they stay PLAINTEXT.
func TestComposeSecureProfileServicesSignInAsTheirPrincipal(t *testing.T) {
	// Every profile, so that the scaled profile's second instances sign
	// in too when both run.
	secure := loadProject(t, cli.WithEnvFiles(secureEnvFile), cli.WithDotEnv, cli.WithProfiles([]string{"*"}))
	plain := loadProject(t)
	init := service(t, secure, "kafka-init")
	for _, name := range append(slices.Sorted(maps.Keys(harness.DefaultPorts)), secondInstances...) {
		base := strings.TrimSuffix(name, "-2")
		t.Run(name, func(t *testing.T) {
			s := service(t, secure, name)
			pr, ok := events.PrincipalNamed(base)
			if !ok {
				t.Fatalf("%s is no principal of events.Principals", base)
			}
			passwordVar := strings.ToUpper(strings.ReplaceAll(base, "-", "_")) + "_KAFKA_PASSWORD"
			for key, want := range map[string]string{
				"KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
				"KAFKA_SASL_MECHANISM":    "SCRAM-SHA-512",
				"KAFKA_SASL_USERNAME":     pr.Name,
				"KAFKA_SASL_PASSWORD":     env(init, passwordVar),
				"KAFKA_CA_FILE":           "/kafka-secrets/ca.pem",
			} {
				if got := env(s, key); got != want || want == "" {
					t.Errorf("%s = %q; want %q", key, got, want)
				}
			}
			checkSecretsMounted(t, s, false)
			if !strings.HasSuffix(name, "-2") {
				// svc's own reading of the plain environment: nothing half set.
				pe := service(t, plain, name).Environment
				parsed := svc.NewEnv(func(k string) string {
					if v, ok := pe[k]; ok && v != nil {
						return *v
					}
					return ""
				})
				if k := parsed.KafkaSecurity(); k.Protocol != svc.ProtocolPlaintext || parsed.Err() != nil {
					t.Errorf("without the env file: %s, %v; want PLAINTEXT, accepted", k, parsed.Err())
				}
			}
		})
	}
}

// Kafka UI signs in as the kit over TLS under the secure profile and stays
// PLAINTEXT without it.
func TestComposeSecureProfileKafkaUISignsIn(t *testing.T) {
	secure, plain := service(t, loadSecure(t), "kafka-ui"), service(t, loadProject(t), "kafka-ui")
	const prefix = "KAFKA_CLUSTERS_0_PROPERTIES_"
	for key, want := range map[string]string{
		"SECURITY_PROTOCOL":       "SASL_SSL",
		"SASL_MECHANISM":          "SCRAM-SHA-512",
		"SSL_TRUSTSTORE_TYPE":     "PEM",
		"SSL_TRUSTSTORE_LOCATION": "/kafka-secrets/ca.pem",
	} {
		if got := env(secure, prefix+key); got != want {
			t.Errorf("kafka-ui %s = %q; want %q", prefix+key, got, want)
		}
	}
	kit := env(service(t, loadSecure(t), "kafka-certs"), "KIT_KAFKA_PASSWORD")
	if jaas := env(secure, prefix+"SASL_JAAS_CONFIG"); kit == "" || !strings.Contains(jaas, `username="kit" password="`+kit+`"`) {
		t.Errorf("kafka-ui JAAS %q; want the kit with the password kafka-certs stores", jaas)
	}
	if got := env(plain, prefix+"SECURITY_PROTOCOL"); got != "PLAINTEXT" {
		t.Errorf("kafka-ui security protocol %q without the env file; want PLAINTEXT", got)
	}
	checkSecretsMounted(t, secure, false)
}

// checkSecretsMounted checks that s mounts the secrets volume at
// /kafka-secrets, writable only for the one-shot that makes them.
func checkSecretsMounted(t *testing.T, s types.ServiceConfig, writable bool) {
	t.Helper()
	for _, v := range s.Volumes {
		if v.Source == kafkaSecretsVolume && v.Target == "/kafka-secrets" {
			if v.ReadOnly == writable {
				t.Errorf("%s mounts %s read-only %v; want %v", s.Name, kafkaSecretsVolume, v.ReadOnly, !writable)
			}
			return
		}
	}
	t.Errorf("%s does not mount %s at /kafka-secrets", s.Name, kafkaSecretsVolume)
}
