// Package security makes a locked-down Kafka for the harness
// (SECURITY=sasl_ssl): per stack, a certificate authority and a broker
// certificate for localhost and 127.0.0.1 (PEM, generated here, nothing
// checked in), a SCRAM-SHA-512 password for every principal
// events.Principals declares and for the brokers among themselves, the
// broker settings that turn on SASL_SSL and the AclAuthorizer, and the ACLs
// that give each principal exactly its grants. It hands each client what it
// needs to connect: franz-go options, a kafka-go dialer, a service's
// environment.
package security

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	kafkascram "github.com/segmentio/kafka-go/sasl/scram"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/kafkakit/kit/services/events"
)

// SASLSSL is the one secure mode there is: SECURITY=sasl_ssl.
const SASLSSL = "sasl_ssl"

// BrokerUser is the principal the brokers use among themselves; like the
// kit's own principal it is a super user.
const BrokerUser = "broker"

// Mechanism is the SASL mechanism every listener and client uses.
const Mechanism = "SCRAM-SHA-512"

// Check accepts "" (plaintext) and "sasl_ssl".
func Check(mode string) error {
	switch mode {
	case "", SASLSSL:
		return nil
	}
	return fmt.Errorf("unknown SECURITY %q: want sasl_ssl, or nothing for plaintext", mode)
}

// Material is one stack's secrets: its CA, the brokers' key and certificate,
// and the principals' passwords, written under Dir.
type Material struct {
	// Dir holds the files: ca.pem, broker.pem (key and certificate chain,
	// for ssl.keystore.location), and one <principal>.password each.
	Dir string
	// CAFile is the CA certificate clients trust (KAFKA_CA_FILE).
	CAFile string
	// KeystoreFile is the brokers' private key and certificate chain.
	KeystoreFile string

	passwords map[string]string
	roots     *x509.CertPool
}

// Generate creates a fresh CA, a broker certificate signed by it with
// DNS:localhost and IP:127.0.0.1 SANs, and a random password for each of
// the kit's principals and BrokerUser, and writes them under dir (created,
// readable by this user only).
func Generate(dir string) (*Material, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("security: %w", err)
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("security: CA key: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "Kafka Microservice Kit CA (this stack only)"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("security: CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("security: CA certificate: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("security: broker key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature,
		// The brokers present it to clients and to each other.
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("security: broker certificate: %w", err)
	}
	// Kafka's PEM keystore takes an unencrypted PKCS#8 key followed by the
	// certificate chain.
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("security: broker key: %w", err)
	}
	m := &Material{Dir: dir, CAFile: filepath.Join(dir, "ca.pem"), KeystoreFile: filepath.Join(dir, "broker.pem"),
		passwords: map[string]string{}, roots: x509.NewCertPool()}
	m.roots.AddCert(ca)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	keystore := slices.Concat(
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		caPEM)
	if err := os.WriteFile(m.CAFile, caPEM, 0o644); err != nil {
		return nil, fmt.Errorf("security: %w", err)
	}
	if err := os.WriteFile(m.KeystoreFile, keystore, 0o600); err != nil {
		return nil, fmt.Errorf("security: %w", err)
	}
	for _, user := range append(principalNames(), BrokerUser) {
		b := make([]byte, 18)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("security: password: %w", err)
		}
		m.passwords[user] = hex.EncodeToString(b)
		if err := os.WriteFile(m.PasswordFile(user), []byte(m.passwords[user]+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("security: %w", err)
		}
	}
	return m, nil
}

// Load reads back the material Generate wrote to dir: for a broker
// started in another process of the same stack (the load runner's
// embedded broker), which must lock down with the same CA and passwords.
func Load(dir string) (*Material, error) {
	m := &Material{Dir: dir, CAFile: filepath.Join(dir, "ca.pem"), KeystoreFile: filepath.Join(dir, "broker.pem"),
		passwords: map[string]string{}, roots: x509.NewCertPool()}
	caPEM, err := os.ReadFile(m.CAFile)
	if err != nil {
		return nil, fmt.Errorf("security: %w", err)
	}
	if !m.roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("security: %s holds no certificate", m.CAFile)
	}
	if _, err := os.Stat(m.KeystoreFile); err != nil {
		return nil, fmt.Errorf("security: %w", err)
	}
	for _, user := range append(principalNames(), BrokerUser) {
		b, err := os.ReadFile(m.PasswordFile(user))
		if err != nil {
			return nil, fmt.Errorf("security: %w", err)
		}
		m.passwords[user] = strings.TrimSuffix(string(b), "\n")
	}
	return m, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}

func principalNames() []string {
	var names []string
	for _, p := range events.Principals {
		names = append(names, p.Name)
	}
	return names
}

// Password is user's password ("" for a user the stack does not know).
func (m *Material) Password(user string) string { return m.passwords[user] }

// PasswordFile is where user's password is written, for
// KAFKA_SASL_PASSWORD_FILE.
func (m *Material) PasswordFile(user string) string {
	return filepath.Join(m.Dir, user+".password")
}

// ClientTLS trusts the stack's CA and nothing else.
func (m *Material) ClientTLS() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: m.roots}
}

// KgoOpts are the franz-go options of a client authenticating as user
// with password, over TLS that trusts the stack's CA.
func (m *Material) KgoOpts(user, password string) []kgo.Opt {
	return []kgo.Opt{
		kgo.DialTLSConfig(m.ClientTLS()),
		kgo.SASL(scram.Auth{User: user, Pass: password}.AsSha512Mechanism()),
	}
}

// KitOpts are the franz-go options of the kit's super user: the harness's
// own clients (topics, ACLs, observers) and the kit CLI.
func (m *Material) KitOpts() []kgo.Opt {
	return m.KgoOpts(events.PrincipalKit, m.Password(events.PrincipalKit))
}

// KitDialer is a kafka-go dialer for the kit's super user.
func (m *Material) KitDialer() *kafka.Dialer {
	mech, err := kafkascram.Mechanism(kafkascram.SHA512, events.PrincipalKit, m.Password(events.PrincipalKit))
	if err != nil {
		// Only a user name or password SASLprep rejects fails; these are
		// a constant and hex.
		panic(fmt.Sprintf("security: SCRAM mechanism for the kit: %v", err))
	}
	return &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, TLS: m.ClientTLS(), SASLMechanism: mech}
}

// ServiceEnv is the environment a service connects with as principal: the
// svc package's KAFKA_SECURITY_PROTOCOL set, the password by file so that
// it shows in no process listing.
func (m *Material) ServiceEnv(principal string) []string {
	return []string{
		"KAFKA_SECURITY_PROTOCOL=SASL_SSL",
		"KAFKA_SASL_MECHANISM=" + Mechanism,
		"KAFKA_SASL_USERNAME=" + principal,
		"KAFKA_SASL_PASSWORD_FILE=" + m.PasswordFile(principal),
		"KAFKA_CA_FILE=" + m.CAFile,
	}
}

// ServerProperties turn a broker listening on addr (host:port) into a
// SASL_SSL-only one: SCRAM-SHA-512 for clients and between brokers, the
// stack's certificate, the AclAuthorizer with nothing allowed without an
// ACL, and the kit and the brokers as super users.
func (m *Material) ServerProperties(addr string) map[string]string {
	jaas := fmt.Sprintf(`org.apache.kafka.common.security.scram.ScramLoginModule required username="%s" password="%s";`,
		BrokerUser, m.Password(BrokerUser))
	return map[string]string{
		"listeners":                                             "SASL_SSL://" + addr,
		"advertised.listeners":                                  "SASL_SSL://" + addr,
		"security.inter.broker.protocol":                        "SASL_SSL",
		"sasl.mechanism.inter.broker.protocol":                  Mechanism,
		"sasl.enabled.mechanisms":                               Mechanism,
		"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": jaas,
		"ssl.keystore.type":                                     "PEM",
		"ssl.keystore.location":                                 m.KeystoreFile,
		"ssl.truststore.type":                                   "PEM",
		"ssl.truststore.location":                               m.CAFile,
		"ssl.client.auth":                                       "none",
		"ssl.endpoint.identification.algorithm":                 "https",
		"authorizer.class.name":                                 "kafka.security.authorizer.AclAuthorizer",
		"allow.everyone.if.no.acl.found":                        "false",
		"super.users":                                           "User:" + events.PrincipalKit + ";User:" + BrokerUser,
	}
}

// BootstrapUsers are the users whose SCRAM credentials must be in
// ZooKeeper before a broker starts: the brokers' own (or they cannot talk
// to each other) and the kit's (or nobody can create the rest).
func BootstrapUsers() []string { return []string{BrokerUser, events.PrincipalKit} }

// SCRAMConfig is the ConfigCommand --add-config value that stores user's
// credential.
func (m *Material) SCRAMConfig(user string) string {
	return Mechanism + "=[iterations=4096,password=" + m.Password(user) + "]"
}

// CreateUsers stores the SCRAM credentials of every service principal
// through the cluster (AlterUserScramCredentials, as the kit super user),
// the bootstrap users having been put in ZooKeeper before the brokers
// started.
func (m *Material) CreateUsers(ctx context.Context, adm *kadm.Client) error {
	var upserts []kadm.UpsertSCRAM
	for _, user := range principalNames() {
		if slices.Contains(BootstrapUsers(), user) {
			continue
		}
		upserts = append(upserts, kadm.UpsertSCRAM{User: user, Mechanism: kadm.ScramSha512, Iterations: 4096, Password: m.Password(user)})
	}
	return UpsertUsers(ctx, adm, upserts...)
}

// UpsertUsers creates or changes SCRAM users and reports every failure.
func UpsertUsers(ctx context.Context, adm *kadm.Client, upserts ...kadm.UpsertSCRAM) error {
	res, err := adm.AlterUserSCRAMs(ctx, nil, upserts)
	if err != nil {
		return fmt.Errorf("security: create SCRAM users: %w", err)
	}
	var errs []error
	for _, r := range res {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("SCRAM user %s: %w", r.User, r.Err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("security: %w", errors.Join(errs...))
	}
	return nil
}

// ApplyACLs creates one allow ACL per grant of every principal
// (events.Principals), literal names, any host.
func ApplyACLs(ctx context.Context, adm *kadm.Client) error {
	var errs []error
	for _, p := range events.Principals {
		for _, g := range p.Grants {
			resource, op, err := KafkaACL(g)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", p.Name, err))
				continue
			}
			b := kadm.NewACLs().Allow("User:" + p.Name).ResourcePatternType(kadm.ACLPatternLiteral).Operations(op)
			if resource == kmsg.ACLResourceTypeTopic {
				b = b.Topics(g.Name)
			} else {
				b = b.Groups(g.Name)
			}
			res, err := adm.CreateACLs(ctx, b)
			if err != nil {
				return fmt.Errorf("security: create ACLs of %s: %w", p.Name, err)
			}
			for _, r := range res {
				if r.Err != nil {
					errs = append(errs, fmt.Errorf("%s %s %s %s: %w", p.Name, g.Operation, g.Resource, g.Name, r.Err))
				}
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("security: ACLs: %w", errors.Join(errs...))
	}
	return nil
}

// KafkaACL is a grant in Kafka's terms: the resource type (topic or group)
// and the operation, for kadm and kfake alike.
func KafkaACL(g events.Grant) (kmsg.ACLResourceType, kmsg.ACLOperation, error) {
	var resource kmsg.ACLResourceType
	switch g.Resource {
	case events.ResourceTopic:
		resource = kmsg.ACLResourceTypeTopic
	case events.ResourceGroup:
		resource = kmsg.ACLResourceTypeGroup
	default:
		return 0, 0, fmt.Errorf("grant on %s: unknown resource %q", g.Name, g.Resource)
	}
	switch g.Operation {
	case events.OpRead:
		return resource, kmsg.ACLOperationRead, nil
	case events.OpWrite:
		return resource, kmsg.ACLOperationWrite, nil
	case events.OpDescribe:
		return resource, kmsg.ACLOperationDescribe, nil
	}
	return 0, 0, fmt.Errorf("grant on %s: unknown operation %q", g.Name, g.Operation)
}

// Describe says in one line how to connect as the kit, without secrets.
func (m *Material) Describe() string {
	return strings.Join([]string{"SASL_SSL", Mechanism, "CA " + m.CAFile}, ", ")
}
