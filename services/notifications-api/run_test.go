package main

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/svc/runtest"
)

// TestRunServesUntilItsContextEnds starts the real entry point, as main
// does, on an embedded broker: it turns ready (the status tail caught up),
// shows a record of another topic on the event flow once someone watches
// it (the flow starts its tails, as run wires them), and ends cleanly when
// its context does.
func TestRunServesUntilItsContextEnds(t *testing.T) {
	env := runtest.Kit(t)
	s := runtest.Start(t, run, "notifications-api", env)
	s.WaitReady(t)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	orderID := uuid.NewString()
	w := &kafka.Writer{Addr: kafka.TCP(env["KAFKA_BROKERS"]), Topic: events.TopicOrdersCreated, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte(orderID), Value: []byte(`{"orderId":"` + orderID + `"}`)}); err != nil {
		t.Fatalf("produce to %s: %v", events.TopicOrdersCreated, err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/flow?orderId="+orderID, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /flow: %v", err)
	}
	sc := bufio.NewScanner(resp.Body)
	for !strings.Contains(sc.Text(), `"topic":"`+events.TopicOrdersCreated+`"`) {
		if !sc.Scan() {
			t.Fatalf("the flow never showed the %s record (the request's deadline is a minute): %v", events.TopicOrdersCreated, sc.Err())
		}
	}
	cancel()
	resp.Body.Close()

	if err := s.Stop(t); err != nil {
		t.Errorf("run returned %v after its context ended, want nil", err)
	}
}
