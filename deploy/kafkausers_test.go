package deploy

import (
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/kafkakit/kit/services/events"
)

// strimziSecrets are the Secrets Strimzi's operators make, by name, with
// their keys: a scram-sha-512 KafkaUser's (the User Operator) and each
// cluster's CA certificate (the Cluster Operator).
func strimziSecrets(objs []object) map[string][]string {
	out := map[string][]string{}
	for _, u := range all[KafkaUser](objs) {
		if u.Spec.Authentication != nil && u.Spec.Authentication.Type == "scram-sha-512" {
			out[u.Name] = []string{"password", "sasl.jaas.config"}
		}
	}
	for _, k := range all[Kafka](objs) {
		out[k.Name+"-cluster-ca-cert"] = []string{"ca.crt", "ca.p12", "ca.password"}
	}
	return out
}

// The KafkaUsers are events.Principals: one per service principal, SCRAM
// sign-in, and ACLs that are exactly its grants — no more, no fewer; the
// cluster allows nothing without an ACL.
func TestKafkaUsersAreTheKitsPrincipals(t *testing.T) {
	objs := build(t)
	k := all[Kafka](objs)[0]
	if a := k.Spec.Kafka.Authorization; a == nil || a.Type != "simple" {
		t.Errorf("Kafka %s authorization %+v; want type simple: without it every signed-in user may do anything", k.Name, a)
	}
	if k.Spec.EntityOperator == nil || k.Spec.EntityOperator.UserOperator == nil {
		t.Errorf("Kafka %s: no entityOperator.userOperator; the KafkaUser resources would create nobody", k.Name)
	}
	users := map[string]*KafkaUser{}
	for _, u := range all[KafkaUser](objs) {
		users[u.Name] = u
	}
	for _, p := range events.Principals {
		if p.Super {
			continue // the kit's own super user signs in to the harness's brokers, not this cluster
		}
		u, ok := users[p.Name]
		if !ok {
			t.Errorf("no KafkaUser %s: principal %s of events.Principals has no user", p.Name, p.Name)
			continue
		}
		delete(users, p.Name)
		if u.Labels[strimziClusterLabel] != k.Name {
			t.Errorf("KafkaUser %s: label %s=%q; want %q", u.Name, strimziClusterLabel, u.Labels[strimziClusterLabel], k.Name)
		}
		if a := u.Spec.Authentication; a == nil || a.Type != "scram-sha-512" {
			t.Errorf("KafkaUser %s authentication %+v; want scram-sha-512", u.Name, a)
		}
		if a := u.Spec.Authorization; a == nil || a.Type != "simple" {
			t.Errorf("KafkaUser %s authorization %+v; want simple", u.Name, a)
			continue
		}
		got := userGrants(t, u)
		want := grantStrings(p.Grants)
		if !slices.Equal(got, want) {
			t.Errorf("KafkaUser %s ACLs\n  %v\nwant events.Principals' grants\n  %v", u.Name, got, want)
		}
	}
	for name := range users {
		t.Errorf("KafkaUser %s is no principal of events.Principals", name)
	}
}

// userGrants are a KafkaUser's ACLs as sorted "resource name operation"
// strings, each rule checked to be an allow, for any host, on a literal name.
func userGrants(t *testing.T, u *KafkaUser) []string {
	t.Helper()
	var gs []events.Grant
	for i, r := range u.Spec.Authorization.ACLs {
		where := fmt.Sprintf("KafkaUser %s acls[%d]", u.Name, i)
		if r.Type != "" && r.Type != "allow" {
			t.Errorf("%s: type %q; want allow", where, r.Type)
		}
		if r.Host != "" && r.Host != "*" {
			t.Errorf("%s: host %q; want any", where, r.Host)
		}
		if pt := r.Resource.PatternType; pt != "" && pt != "literal" {
			t.Errorf("%s: patternType %q; want literal (least privilege names every resource)", where, pt)
		}
		var res events.Resource
		switch r.Resource.Type {
		case "topic":
			res = events.ResourceTopic
		case "group":
			res = events.ResourceGroup
		default:
			t.Errorf("%s: resource type %q; the kit grants on topics and groups only", where, r.Resource.Type)
			continue
		}
		if len(r.Operations) == 0 {
			t.Errorf("%s: no operations", where)
		}
		for _, op := range r.Operations {
			gs = append(gs, events.Grant{Resource: res, Name: r.Resource.Name, Operation: events.Operation(op)})
		}
	}
	return grantStrings(gs)
}

func grantStrings(gs []events.Grant) []string {
	var out []string
	for _, g := range gs {
		out = append(out, fmt.Sprintf("%s %s %s", g.Resource, g.Name, g.Operation))
	}
	slices.Sort(out)
	return out
}

// Every service signs in as its own principal over TLS: SASL_SSL with
// SCRAM-SHA-512, its password from the Secret Strimzi makes for its
// KafkaUser, and KAFKA_CA_FILE a file of the cluster CA Secret's ca.crt.
func TestDeploymentsSignInAsTheirPrincipal(t *testing.T) {
	objs := build(t)
	k := all[Kafka](objs)[0]
	caSecret := k.Name + "-cluster-ca-cert"
	for _, name := range kitServices(t) {
		t.Run(name, func(t *testing.T) {
			if _, ok := events.PrincipalNamed(name); !ok {
				t.Fatalf("%s is no principal of events.Principals", name)
			}
			d := find[appsv1.Deployment](t, objs, name)
			pod := d.Spec.Template.Spec
			c := pod.Containers[0]
			env := map[string]corev1.EnvVar{}
			for _, e := range c.Env {
				env[e.Name] = e
			}
			for key, want := range map[string]string{
				"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": name,
			} {
				if got := env[key]; got.Value != want || got.ValueFrom != nil {
					t.Errorf("env %s = %q; want %q", key, got.Value, want)
				}
			}
			if _, inline := env["KAFKA_SASL_PASSWORD_FILE"]; inline {
				t.Errorf("KAFKA_SASL_PASSWORD_FILE set; want KAFKA_SASL_PASSWORD from the user's Secret")
			}
			pw := env["KAFKA_SASL_PASSWORD"]
			if pw.ValueFrom == nil || pw.ValueFrom.SecretKeyRef == nil || pw.ValueFrom.SecretKeyRef.Name != name || pw.ValueFrom.SecretKeyRef.Key != "password" {
				t.Errorf("KAFKA_SASL_PASSWORD %+v; want the key password of Secret %s, which the User Operator makes for KafkaUser %s", pw, name, name)
			}
			ca := env["KAFKA_CA_FILE"].Value
			if !caMounted(pod, c, ca, caSecret) {
				t.Errorf("KAFKA_CA_FILE %q is not ca.crt of Secret %s mounted in the container", ca, caSecret)
			}
		})
	}
}

// caMounted reports whether file is key ca.crt of Secret secret, mounted
// into c.
func caMounted(pod corev1.PodSpec, c corev1.Container, file, secret string) bool {
	for _, m := range c.VolumeMounts {
		rel, err := filepath.Rel(m.MountPath, file)
		if err != nil || strings.HasPrefix(rel, "..") || m.SubPath != "" {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name != m.Name || v.Secret == nil || v.Secret.SecretName != secret {
				continue
			}
			if len(v.Secret.Items) == 0 {
				return rel == "ca.crt"
			}
			for _, it := range v.Secret.Items {
				if it.Key == "ca.crt" && path.Clean(it.Path) == rel {
					return true
				}
			}
		}
	}
	return false
}
