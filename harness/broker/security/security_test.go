package security

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkakit/kit/services/events"
)

func TestGenerate(t *testing.T) {
	m, err := Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	keystore, err := os.ReadFile(m.KeystoreFile)
	if err != nil {
		t.Fatal(err)
	}
	// Kafka's PEM keystore: the key first, then the chain.
	var blocks []*pem.Block
	for rest := keystore; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		blocks = append(blocks, b)
	}
	if len(blocks) != 3 || blocks[0].Type != "PRIVATE KEY" || blocks[1].Type != "CERTIFICATE" {
		t.Fatalf("keystore holds %d blocks, want PRIVATE KEY, CERTIFICATE, CERTIFICATE", len(blocks))
	}
	cert, err := x509.ParseCertificate(blocks[1].Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"localhost", "127.0.0.1"} {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: host, Roots: m.ClientTLS().RootCAs}); err != nil {
			t.Errorf("broker certificate for %s does not verify against the stack's CA: %v", host, err)
		}
	}
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: "localhost"}); err == nil {
		t.Error("broker certificate verifies against the system's roots; want only the stack's CA")
	}

	users := []string{BrokerUser}
	for _, p := range events.Principals {
		users = append(users, p.Name)
	}
	seen := map[string]string{}
	for _, u := range users {
		pw := m.Password(u)
		if len(pw) < 24 {
			t.Errorf("password of %s has %d characters, want at least 24", u, len(pw))
		}
		if other, dup := seen[pw]; dup {
			t.Errorf("%s and %s share a password", u, other)
		}
		seen[pw] = u
		b, err := os.ReadFile(m.PasswordFile(u))
		if err != nil || strings.TrimSpace(string(b)) != pw {
			t.Errorf("password file of %s = %q, %v; want its password", u, b, err)
		}
		if fi, err := os.Stat(m.PasswordFile(u)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("password file of %s: mode %v, %v; want 0600", u, fi.Mode().Perm(), err)
		}
	}

	props := m.ServerProperties("127.0.0.1:9093")
	for k, want := range map[string]string{
		"listeners":                      "SASL_SSL://127.0.0.1:9093",
		"security.inter.broker.protocol": "SASL_SSL",
		"sasl.enabled.mechanisms":        "SCRAM-SHA-512",
		"authorizer.class.name":          "kafka.security.authorizer.AclAuthorizer",
		"allow.everyone.if.no.acl.found": "false",
		"super.users":                    "User:kit;User:broker",
		"ssl.keystore.type":              "PEM",
		"ssl.truststore.location":        m.CAFile,
	} {
		if got := props[k]; got != want {
			t.Errorf("server property %s = %q, want %q", k, got, want)
		}
	}
}

func TestCheck(t *testing.T) {
	for _, tt := range []struct {
		mode string
		ok   bool
	}{{"", true}, {"sasl_ssl", true}, {"SASL_SSL", false}, {"ssl", false}, {"plaintext", false}} {
		if err := Check(tt.mode); (err == nil) != tt.ok {
			t.Errorf("Check(%q) = %v, want ok %v", tt.mode, err, tt.ok)
		}
	}
}

func TestKafkaACL(t *testing.T) {
	for _, p := range events.Principals {
		for _, g := range p.Grants {
			if _, _, err := KafkaACL(g); err != nil {
				t.Errorf("%s: %v", p.Name, err)
			}
		}
	}
	tests := []struct {
		g        events.Grant
		resource kmsg.ACLResourceType
		op       kmsg.ACLOperation
		ok       bool
	}{
		{events.Grant{Resource: events.ResourceTopic, Name: "t", Operation: events.OpWrite}, kmsg.ACLResourceTypeTopic, kmsg.ACLOperationWrite, true},
		{events.Grant{Resource: events.ResourceGroup, Name: "g", Operation: events.OpRead}, kmsg.ACLResourceTypeGroup, kmsg.ACLOperationRead, true},
		{events.Grant{Resource: events.ResourceGroup, Name: "g", Operation: events.OpDescribe}, kmsg.ACLResourceTypeGroup, kmsg.ACLOperationDescribe, true},
		{events.Grant{Resource: "cluster", Name: "c", Operation: events.OpRead}, 0, 0, false},
		{events.Grant{Resource: events.ResourceTopic, Name: "t", Operation: "Alter"}, 0, 0, false},
	}
	for _, tt := range tests {
		resource, op, err := KafkaACL(tt.g)
		if (err == nil) != tt.ok || resource != tt.resource || op != tt.op {
			t.Errorf("KafkaACL(%+v) = %v, %v, %v; want %v, %v, ok %v", tt.g, resource, op, err, tt.resource, tt.op, tt.ok)
		}
	}
}

// TestLoadReadsBackWhatGenerateWrote: another process of the stack locks
// down with the same CA and passwords.
func TestLoadReadsBackWhatGenerateWrote(t *testing.T) {
	dir := t.TempDir()
	m, err := Generate(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range events.Principals {
		if got.Password(p.Name) != m.Password(p.Name) || got.Password(p.Name) == "" {
			t.Errorf("Load: password of %s differs from Generate's", p.Name)
		}
	}
	if got.Password(BrokerUser) != m.Password(BrokerUser) || got.CAFile != m.CAFile || got.KeystoreFile != m.KeystoreFile {
		t.Errorf("Load = %+v, want the files and passwords of %+v", got, m)
	}
	if _, err := Load(t.TempDir()); err == nil {
		t.Error("Load of an empty directory succeeded")
	}
}
