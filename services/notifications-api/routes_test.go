package main

import (
	"log/slog"
	"slices"
	"testing"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/metrics"
)

// subscriptions is the whole list of what the service reads: the statuses
// always, from the first record; every other kit topic and every dead-letter
// topic for the event flow, from the recent records, while it is watched.
func TestSubscriptionsReadEveryKitTopicAndItsDeadLetters(t *testing.T) {
	cfg := testConfig
	cfg.Brokers = []string{"127.0.0.1:1"}
	cfg.FlowRecords = 10
	flow := NewFlow(cfg.FlowRecords, nil, nil)
	statuses, flowTails := subscriptions(cfg, slog.New(slog.DiscardHandler), NewHistory(cfg.History), flow, nil, nil,
		metrics.New("notifications-api").Consumed(events.TopicOrdersStatus))

	if statuses.Topic != events.TopicOrdersStatus || statuses.Start(5, 100) != 5 || statuses.Handle == nil {
		t.Errorf("status tail reads %s from %d; want %s from the first offset, with a handler", statuses.Topic, statuses.Start(5, 100), events.TopicOrdersStatus)
	}
	var got []string
	for _, tail := range flowTails {
		got = append(got, tail.Topic)
		if tail.Start(5, 100) != 90 || tail.Handle == nil {
			t.Errorf("flow tail of %s starts at %d; want the last %d records (90), with a handler", tail.Topic, tail.Start(5, 100), cfg.FlowRecords)
		}
	}
	var want []string
	for _, topic := range events.Topics {
		if topic != events.TopicOrdersStatus {
			want = append(want, topic)
		}
		want = append(want, events.DLQ(topic))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("flow tails read %v; want %v", got, want)
	}
}
