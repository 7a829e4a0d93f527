package testcontainers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkakit/kit/harness/internal/syncbuf"
)

// startBroker starts a broker for t, or skips t with one loud line where no
// Docker engine answers.
func startBroker(t *testing.T) *Broker {
	t.Helper()
	logs := &syncbuf.Buffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b, err := Start(ctx, Options{Log: logs})
	if errors.Is(err, ErrNoDocker) {
		t.Skip("SKIP " + err.Error())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("containers' output:\n%s", logs.String())
		}
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

func TestBrokerCreatesProducesAndConsumes(t *testing.T) {
	b := startBroker(t)
	if got, want := b.Name(), "testcontainers"; got != want {
		t.Errorf("Name() = %q; want %q", got, want)
	}
	if len(b.Addrs()) != 1 {
		t.Fatalf("Addrs() = %v; want one host:port", b.Addrs())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	topic := fmt.Sprintf("testcontainers.%d", time.Now().UnixNano())

	client, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...))
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	defer client.Close()
	admin := kadm.NewClient(client)
	created, err := admin.CreateTopic(ctx, 3, 1, nil, topic)
	if err == nil {
		err = created.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}

	want := &kgo.Record{Topic: topic, Key: []byte("order-1"), Value: []byte(`{"orderId":"order-1"}`)}
	if err := client.ProduceSync(ctx, want).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}

	consumer, err := kgo.NewClient(
		kgo.SeedBrokers(b.Addrs()...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	defer consumer.Close()
	for {
		fetches := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("no record consumed from %s before the deadline: %v", topic, err)
		}
		if errs := fetches.Errors(); len(errs) > 0 {
			t.Fatalf("fetch: %v", errs[0].Err)
		}
		for _, got := range fetches.Records() {
			if string(got.Key) != string(want.Key) || string(got.Value) != string(want.Value) {
				t.Fatalf("consumed key %q value %q; want key %q value %q", got.Key, got.Value, want.Key, want.Value)
			}
			return
		}
	}
}

// Without a Docker engine Start must say so, quickly and without creating
// anything, whatever this machine has. The check runs in a child process
// because testcontainers caches the Docker host it found for the process.
func TestStartWithoutDockerReturnsErrNoDocker(t *testing.T) {
	if os.Getenv("KAFKAKIT_TESTCONTAINERS_CHILD") == "1" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := Start(ctx, Options{})
		if !errors.Is(err, ErrNoDocker) {
			t.Fatalf("Start with no Docker engine: err = %v; want it to wrap ErrNoDocker", err)
		}
		fmt.Println("CHILD:", err)
		return
	}

	home := t.TempDir() // no ~/.testcontainers.properties, no docker contexts
	cmd := exec.Command(os.Args[0], "-test.run=^TestStartWithoutDockerReturnsErrNoDocker$", "-test.v")
	cmd.Env = append(withoutDockerSettings(os.Environ()),
		"KAFKAKIT_TESTCONTAINERS_CHILD=1",
		"HOME="+home,
		"DOCKER_HOST=unix://"+home+"/no-docker.sock",
	)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "CHILD: broker testcontainers: no Docker engine answers here (") {
		t.Errorf("child output %q; want the error naming ErrNoDocker and a reason", out)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("the answer took %s; want it well within the 15 s bound", took)
	}
}

func withoutDockerSettings(env []string) []string {
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "DOCKER_") || strings.HasPrefix(name, "TESTCONTAINERS_") || name == "HOME" {
			continue
		}
		out = append(out, kv)
	}
	return out
}

func TestPropertyEnv(t *testing.T) {
	tests := []struct {
		property, want string
	}{
		{"log.retention.ms", "KAFKA_LOG_RETENTION_MS"},
		{"auto.create.topics.enable", "KAFKA_AUTO_CREATE_TOPICS_ENABLE"},
		{"listener.name.internal.ssl_cipher", "KAFKA_LISTENER_NAME_INTERNAL_SSL__CIPHER"},
		{"confluent.some-setting", "KAFKA_CONFLUENT_SOME___SETTING"},
	}
	for _, tc := range tests {
		if got := propertyEnv(tc.property); got != tc.want {
			t.Errorf("propertyEnv(%q) = %q; want %q", tc.property, got, tc.want)
		}
	}
}

func TestKafkaEnv(t *testing.T) {
	env := kafkaEnv(map[string]string{"log.retention.ms": "60000", "auto.create.topics.enable": "true"})
	tests := []struct {
		key, want string
	}{
		{"KAFKA_LOG_RETENTION_MS", "60000"},
		{"KAFKA_AUTO_CREATE_TOPICS_ENABLE", "true"}, // an option overrides a default
		{"KAFKA_ZOOKEEPER_CONNECT", "zookeeper:2181"},
		{"KAFKA_LISTENERS", "INTERNAL://0.0.0.0:9092,EXTERNAL://0.0.0.0:9093"},
		{"KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0"},
	}
	for _, tc := range tests {
		if got := env[tc.key]; got != tc.want {
			t.Errorf("%s = %q; want %q", tc.key, got, tc.want)
		}
	}
	if got := kafkaEnv(nil)["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]; got != "false" {
		t.Errorf("default KAFKA_AUTO_CREATE_TOPICS_ENABLE = %q; want %q", got, "false")
	}
}

func TestStartScriptAdvertisesTheMappedPort(t *testing.T) {
	script := startScriptFor("localhost:49153")
	for _, want := range []string{
		"export KAFKA_ADVERTISED_LISTENERS='INTERNAL://kafka:9092,EXTERNAL://localhost:49153'\n",
		"exec /etc/confluent/docker/run\n",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("start script\n%s\nwants the line %q", script, want)
		}
	}
}
