package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/kafkakit/kit/harness"
	"github.com/kafkakit/kit/harness/broker"
	"github.com/kafkakit/kit/harness/broker/security"
	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/svc"
)

// cluster is where a kit command connects and how: the brokers, and a
// dialer with TLS and SASL for a locked-down one (nil: plaintext), with the
// same sign-in as franz-go options for the commands that use franz-go (txn).
type cluster struct {
	brokers []string
	dialer  *kafka.Dialer
	franz   []kgo.Opt
}

// The client settings of a running `kit up -security sasl_ssl`, so that
// `kit topics`, `tail`, `groups` and the rest sign in as the kit by
// themselves: the same variables the services read (svc.KafkaSecurity),
// written to a file of this user's while the stack runs.
func settingsDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "kafkakit", "stack"), nil
}

// writeSettings records how to connect to stack as the kit super user: its
// brokers, the protocol, the kit's user and password file and the CA, both
// copied beside the settings (the stack removes its own at stop). A
// plaintext stack leaves no settings, and removes stale ones.
func writeSettings(stack *harness.Stack) (path string, err error) {
	dir, err := settingsDir()
	if err != nil {
		return "", err
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	m := stack.Security()
	if m == nil {
		return "", nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	ca, password := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "kit.password")
	caPEM, err := os.ReadFile(m.CAFile)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(ca, caPEM, 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(password, []byte(m.Password(events.PrincipalKit)+"\n"), 0o600); err != nil {
		return "", err
	}
	lines := []string{
		"# Written by kit up while its locked-down stack runs; removed when it stops.",
		"KAFKA_BROKERS=" + strings.Join(stack.BrokerAddrs(), ","),
		"KAFKA_SECURITY_PROTOCOL=SASL_SSL",
		"KAFKA_SASL_MECHANISM=SCRAM-SHA-512",
		"KAFKA_SASL_USERNAME=" + events.PrincipalKit,
		"KAFKA_SASL_PASSWORD_FILE=" + password,
		"KAFKA_CA_FILE=" + ca,
	}
	path = filepath.Join(dir, "client.env")
	return path, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
}

// removeSettings forgets the stack's client settings at stop.
func removeSettings() {
	if dir, err := settingsDir(); err == nil {
		_ = os.RemoveAll(dir)
	}
}

// readSettings reads the running stack's settings, nil when there are none.
func readSettings() (map[string]string, error) {
	dir, err := settingsDir()
	if err != nil {
		return nil, nil
	}
	f, err := os.Open(filepath.Join(dir, "client.env"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			out[k] = v
		}
	}
	return out, sc.Err()
}

// connect is how a command reaches brokers: the KAFKA_SECURITY_PROTOCOL set
// from the environment when it names a protocol, else the running stack's
// settings when they are for these very brokers, else plaintext. Half a
// setting is refused naming the variable, as a service would.
func connect(brokers []string, getenv func(string) string) (cluster, error) {
	if getenv("KAFKA_SECURITY_PROTOCOL") == "" {
		settings, err := readSettings()
		if err != nil {
			return cluster{}, fmt.Errorf("the running stack's client settings: %w", err)
		}
		if settings != nil && slices.Equal(loopbackAs127(strings.Split(settings["KAFKA_BROKERS"], ",")), loopbackAs127(brokers)) {
			getenv = func(k string) string {
				if v := settings[k]; v != "" {
					return v
				}
				return ""
			}
		}
	}
	env := svc.NewEnv(getenv)
	sec := env.KafkaSecurity()
	if err := env.Err(); err != nil {
		return cluster{}, err
	}
	c := cluster{brokers: brokers}
	if sec.Protocol != svc.ProtocolPlaintext {
		c.dialer = sec.Dialer()
		c.franz = []kgo.Opt{kgo.DialTLSConfig(c.dialer.TLS)}
		if sec.Protocol == svc.ProtocolSASLSSL {
			password, err := env.SASLPassword()
			if err != nil {
				return cluster{}, err
			}
			auth := scram.Auth{User: sec.Username, Pass: password}
			mech := auth.AsSha512Mechanism()
			if sec.Mechanism == "SCRAM-SHA-256" {
				mech = auth.AsSha256Mechanism()
			}
			c.franz = append(c.franz, kgo.SASL(mech))
		}
	}
	return c, nil
}

// loopbackAs127 spells the loopback names of addrs (host:port) as
// 127.0.0.1, so that the default localhost:9093 matches the 127.0.0.1:9093
// a running stack writes in its settings: the same broker.
func loopbackAs127(addrs []string) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err == nil && (host == "localhost" || host == "::1") {
			a = net.JoinHostPort("127.0.0.1", port)
		}
		out[i] = a
	}
	return out
}

// The outsider of a locked-down `kit up`: a user with no ACL, for a learner
// to try forging a status (README, "Kafka: who may write where"). Its
// password is printed and documented on purpose: it opens nothing.
const (
	outsiderUser     = "outsider"
	outsiderPassword = "outsider-password"
)

// createOutsider stores the outsider's SCRAM credential, as the kit.
func createOutsider(ctx context.Context, stack *harness.Stack) error {
	cl, err := kgo.NewClient(append(broker.ClientOpts(stack.Broker()), kgo.SeedBrokers(stack.BrokerAddrs()...))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return security.UpsertUsers(ctx, kadm.NewClient(cl),
		kadm.UpsertSCRAM{User: outsiderUser, Mechanism: kadm.ScramSha512, Iterations: 4096, Password: outsiderPassword})
}

// settingsCA is the CA file the settings at path name.
func settingsCA(path string) string { return filepath.Join(filepath.Dir(path), "ca.pem") }
