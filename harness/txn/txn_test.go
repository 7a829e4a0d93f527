package txn_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kafkakit/kit/harness/broker"
	"github.com/kafkakit/kit/harness/broker/embedded"
	"github.com/kafkakit/kit/harness/broker/kafka"
	"github.com/kafkakit/kit/harness/txn"
)

// The tests share one broker: the embedded one (kfake, which implements
// transactions) by default, real Kafka 3.9 with BROKER=kafka.
var (
	brokerOnce  sync.Once
	brokerAddrs []string
	brokerErr   error
	running     broker.Broker
)

func TestMain(m *testing.M) {
	code := m.Run()
	if running != nil {
		_ = running.Close(context.Background())
	}
	os.Exit(code)
}

func addrs(t *testing.T) []string {
	t.Helper()
	brokerOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		var b broker.Broker
		if os.Getenv("BROKER") == "kafka" {
			b, brokerErr = kafka.Start(ctx, kafka.Options{})
		} else {
			b, brokerErr = embedded.Start(ctx, embedded.Options{})
		}
		if brokerErr == nil {
			running, brokerAddrs = b, b.Addrs()
		}
	})
	if brokerErr != nil {
		t.Fatal(brokerErr)
	}
	return brokerAddrs
}

// lab is a lab on the tests' broker with a fresh token for names.
func lab(t *testing.T) (context.Context, *txn.Lab, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	l, err := txn.NewLab(addrs(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close(context.Background(), false) })
	var tok [4]byte
	_, _ = rand.Read(tok[:])
	return ctx, l, hex.EncodeToString(tok[:])
}

func markers(rs []txn.Record) []string {
	var out []string
	for _, r := range rs {
		if r.Marker != "" {
			out = append(out, r.Marker)
		}
	}
	return out
}

func TestIsolationDecidesWhatAConsumerSeesOfATransaction(t *testing.T) {
	ctx, l, tok := lab(t)
	topic := "txn.test." + tok
	if err := l.Topic(ctx, topic); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Transact(ctx, "txn-"+tok, topic, false, "a1", "a2"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Transact(ctx, "txn-"+tok, topic, true, "c1"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		iso         txn.Isolation
		wantValues  []string
		wantMarkers []string
	}{
		{txn.ReadCommitted, []string{"c1"}, []string{"ABORT", "COMMIT"}},
		{txn.ReadUncommitted, []string{"a1", "a2", "c1"}, []string{"ABORT", "COMMIT"}},
	}
	for _, tt := range tests {
		got, err := l.Read(ctx, topic, tt.iso)
		if err != nil {
			t.Fatal(err)
		}
		if v := txn.Values(got); !slices.Equal(v, tt.wantValues) {
			t.Errorf("%s read values %v, want %v (all: %v)", tt.iso, v, tt.wantValues, got)
		}
		if m := markers(got); !slices.Equal(m, tt.wantMarkers) {
			t.Errorf("%s read markers %v, want %v", tt.iso, m, tt.wantMarkers)
		}
		if got[len(got)-1].Offset != 4 {
			t.Errorf("%s read up to offset %d, want 4 (2 aborted, a marker, 1 committed, a marker)", tt.iso, got[len(got)-1].Offset)
		}
	}
}

func TestAZombieProducerIsFenced(t *testing.T) {
	ctx, l, tok := lab(t)
	topic := "txn.test." + tok
	if err := l.Topic(ctx, topic); err != nil {
		t.Fatal(err)
	}
	f, err := l.Fence(ctx, "txn-"+tok, topic)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("producer id %d, zombie epoch %d, successor epoch %d; zombie's write: %v; zombie's commit: %v", f.ProducerID, f.ZombieEpoch, f.SuccessorEpoch, f.ZombieWrite, f.ZombieCommit)
	if f.SuccessorEpoch <= f.ZombieEpoch {
		t.Errorf("epochs: zombie %d, successor %d; want the successor's higher", f.ZombieEpoch, f.SuccessorEpoch)
	}
	if !txn.Fenced(f.ZombieWrite) && !txn.Fenced(f.ZombieCommit) {
		t.Errorf("zombie's write: %v, commit: %v; want one refused as fenced", f.ZombieWrite, f.ZombieCommit)
	}
	if f.ZombieCommit == nil {
		t.Error("zombie's commit succeeded")
	}
	if f.SuccessorCommit != nil {
		t.Errorf("successor's commit: %v", f.SuccessorCommit)
	}
	got, err := l.Read(ctx, topic, txn.ReadCommitted)
	if err != nil {
		t.Fatal(err)
	}
	if v := txn.Values(got); !slices.Equal(v, []string{"successor: 1"}) {
		t.Errorf("read_committed saw %v, want the successor's record alone", got)
	}
}

func TestACrashBeforeCommitReadsTheInputAgainAndWritesTheOutputOnce(t *testing.T) {
	ctx, l, tok := lab(t)
	in, out, group := "txn.test.in."+tok, "txn.test.out."+tok, l.Group("txn.test."+tok)
	for _, topic := range []string{in, out} {
		if err := l.Topic(ctx, topic); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Write(ctx, in, "order 1", "order 2"); err != nil {
		t.Fatal(err)
	}
	crashed, err := l.Process(ctx, "txn-"+tok, group, in, out, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(crashed.Inputs) != 2 || crashed.Committed {
		t.Fatalf("crashed run = %+v, want 2 inputs and no commit", crashed)
	}
	if at, err := l.CommittedOffset(ctx, group, in); err != nil || at >= 0 {
		t.Errorf("committed offset after the crash = %d, %v; want none", at, err)
	}
	second, err := l.Process(ctx, "txn-"+tok, group, in, out, false)
	if err != nil {
		t.Fatal(err)
	}
	if v := txn.Values(second.Inputs); !slices.Equal(v, []string{"order 1", "order 2"}) || !second.Committed {
		t.Errorf("second run = %+v, want both inputs read again and committed", second)
	}
	if at, err := l.CommittedOffset(ctx, group, in); err != nil || at != 2 {
		t.Errorf("committed offset = %d, %v; want 2", at, err)
	}
	committed, err := l.Read(ctx, out, txn.ReadCommitted)
	if err != nil {
		t.Fatal(err)
	}
	if v := txn.Values(committed); !slices.Equal(v, []string{"order 1 handled", "order 2 handled"}) {
		t.Errorf("read_committed saw %v, want each output once", committed)
	}
	all, err := l.Read(ctx, out, txn.ReadUncommitted)
	if err != nil {
		t.Fatal(err)
	}
	if v := txn.Values(all); len(v) != 4 {
		t.Errorf("read_uncommitted saw %v, want the crashed run's two outputs and the second's", all)
	}
	third, err := l.Process(ctx, "txn-"+tok, group, in, out, false)
	if err != nil || len(third.Inputs) != 0 {
		t.Errorf("a third run = %+v, %v; want nothing left to read", third, err)
	}
}
