package svc

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// Kafka security protocols a service speaks, named as Kafka's
// security.protocol names them.
const (
	ProtocolPlaintext = "PLAINTEXT"
	ProtocolSSL       = "SSL"
	ProtocolSASLSSL   = "SASL_SSL"
)

// SASL mechanisms a service authenticates with.
const (
	MechanismSCRAMSHA512 = "SCRAM-SHA-512"
	MechanismSCRAMSHA256 = "SCRAM-SHA-256"
)

// KafkaSecurity is how a service proves who it is to the brokers and checks
// who they are: KAFKA_SECURITY_PROTOCOL (PLAINTEXT, the default; SSL;
// SASL_SSL), KAFKA_SASL_MECHANISM (SCRAM-SHA-512, the default, or
// SCRAM-SHA-256), KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD or
// KAFKA_SASL_PASSWORD_FILE, and KAFKA_CA_FILE (PEM certificates the brokers'
// certificate must chain to; the system's roots when unset). Every kafka-go
// connection a service opens is built from Dialer or Transport, so readers,
// consumer groups, producers and inspect speak alike. The password is kept
// inside the SASL mechanism and never printed.
type KafkaSecurity struct {
	Protocol  string
	Mechanism string // "" unless SASL_SSL
	Username  string // "" unless SASL_SSL
	CAFile    string // "" for the system's roots

	tls  *tls.Config
	sasl sasl.Mechanism
}

// KafkaSecurity reads the KAFKA_SECURITY_PROTOCOL set. Half a configuration
// (a user without a password, a password for PLAINTEXT, a CA file nobody
// uses) is refused naming the variable, rather than connecting in a way
// the operator did not mean.
func (e *Env) KafkaSecurity() KafkaSecurity {
	k := KafkaSecurity{Protocol: strings.ToUpper(e.String("KAFKA_SECURITY_PROTOCOL", ProtocolPlaintext))}
	fail := func(format string, args ...any) KafkaSecurity {
		e.errs = append(e.errs, fmt.Errorf(format, args...))
		return KafkaSecurity{Protocol: ProtocolPlaintext}
	}
	saslVars := []string{"KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD", "KAFKA_SASL_PASSWORD_FILE"}
	switch k.Protocol {
	case ProtocolPlaintext, ProtocolSSL:
		for _, v := range saslVars {
			if e.getenv(v) != "" {
				return fail("%s is set but KAFKA_SECURITY_PROTOCOL is %s: SASL needs SASL_SSL", v, k.Protocol)
			}
		}
		if k.Protocol == ProtocolPlaintext {
			if e.String("KAFKA_CA_FILE", "") != "" {
				return fail("KAFKA_CA_FILE is set but KAFKA_SECURITY_PROTOCOL is PLAINTEXT: a CA needs SSL or SASL_SSL")
			}
			return k
		}
	case ProtocolSASLSSL:
		k.Mechanism = strings.ToUpper(e.String("KAFKA_SASL_MECHANISM", MechanismSCRAMSHA512))
		var algo scram.Algorithm
		switch k.Mechanism {
		case MechanismSCRAMSHA512:
			algo = scram.SHA512
		case MechanismSCRAMSHA256:
			algo = scram.SHA256
		default:
			return fail("KAFKA_SASL_MECHANISM: want SCRAM-SHA-512 or SCRAM-SHA-256, got %q", k.Mechanism)
		}
		if k.Username = e.String("KAFKA_SASL_USERNAME", ""); k.Username == "" {
			return fail("KAFKA_SASL_USERNAME: SASL_SSL needs a user name")
		}
		password, err := e.SASLPassword()
		if err != nil {
			return fail("%w", err)
		}
		if k.sasl, err = scram.Mechanism(algo, k.Username, password); err != nil {
			return fail("KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD: %v", err)
		}
	default:
		return fail("KAFKA_SECURITY_PROTOCOL: want PLAINTEXT, SSL or SASL_SSL, got %q", k.Protocol)
	}
	k.tls = &tls.Config{MinVersion: tls.VersionTLS12}
	if k.CAFile = e.String("KAFKA_CA_FILE", ""); k.CAFile != "" {
		pem, err := os.ReadFile(k.CAFile)
		if err != nil {
			return fail("KAFKA_CA_FILE: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fail("KAFKA_CA_FILE: %s holds no PEM certificate", k.CAFile)
		}
		k.tls.RootCAs = pool
	}
	return k
}

// SASLPassword is KAFKA_SASL_PASSWORD or the contents of
// KAFKA_SASL_PASSWORD_FILE (a mounted secret; one trailing newline is not
// part of it), exactly one of them. KafkaSecurity keeps it inside kafka-go's
// mechanism; a client on another library (the kit's franz-go commands)
// reads it here rather than a second way.
func (e *Env) SASLPassword() (string, error) {
	inline, file := e.getenv("KAFKA_SASL_PASSWORD"), e.String("KAFKA_SASL_PASSWORD_FILE", "")
	switch {
	case inline != "" && file != "":
		return "", errors.New("KAFKA_SASL_PASSWORD and KAFKA_SASL_PASSWORD_FILE are both set: give one")
	case inline != "":
		return inline, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("KAFKA_SASL_PASSWORD_FILE: %w", err)
		}
		p := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if p == "" {
			return "", fmt.Errorf("KAFKA_SASL_PASSWORD_FILE: %s is empty", file)
		}
		return p, nil
	}
	return "", errors.New("KAFKA_SASL_PASSWORD: SASL_SSL needs a password (or KAFKA_SASL_PASSWORD_FILE)")
}

// Dialer is a kafka-go dialer that speaks the configured protocol, for
// readers and consumer groups: kafka-go's default dialer plus TLS and SASL.
func (k KafkaSecurity) Dialer() *kafka.Dialer {
	return &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, TLS: k.tlsConfig(), SASLMechanism: k.sasl}
}

// tlsConfig is a copy per connection owner: kafka-go fills in ServerName.
func (k KafkaSecurity) tlsConfig() *tls.Config {
	if k.tls == nil {
		return nil
	}
	return k.tls.Clone()
}

// String says how the service connects, without the password: for the
// start-up log line.
func (k KafkaSecurity) String() string {
	s := k.Protocol
	if k.Username != "" {
		s += " " + k.Mechanism + " as " + k.Username
	}
	if k.CAFile != "" {
		s += ", CA " + k.CAFile
	}
	return s
}

// LogValue logs k as String does: never the password.
func (k KafkaSecurity) LogValue() slog.Value { return slog.StringValue(k.String()) }
