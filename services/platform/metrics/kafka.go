package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/platform/stream"
)

// Writer produces records and returns once the broker acknowledged them;
// *kafka.Writer is one.
type Writer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Producer is a Writer that counts what the broker acknowledged in
// kafkakit_messages_produced_total.
type Producer struct {
	w     Writer
	topic string
	count *bound[prometheus.Counter]
}

// Producer counts what w produces. topic is w's own topic, which records
// that name none go to; "" for a writer whose records each name one.
func (m *Metrics) Producer(w Writer, topic string) *Producer {
	return &Producer{w: w, topic: topic, count: newBound(func(t string) prometheus.Counter {
		return m.produced.WithLabelValues(t)
	})}
}

// WriteMessages writes msgs through the wrapped writer and counts those the
// broker took: all of them, none, or (kafka.WriteErrors) those without an
// error.
func (p *Producer) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	err := p.w.WriteMessages(ctx, msgs...)
	var partial kafka.WriteErrors
	switch {
	case err == nil:
		p.add(msgs, nil)
	case errors.As(err, &partial) && len(partial) == len(msgs):
		p.add(msgs, partial)
	}
	return err
}

// add counts msgs (but those failed names), one Add per run of records
// of one topic.
func (p *Producer) add(msgs []kafka.Message, failed kafka.WriteErrors) {
	run, n := "", 0
	for i := range msgs {
		if failed != nil && failed[i] != nil {
			continue
		}
		t := msgs[i].Topic
		if t == "" {
			t = p.topic
		}
		if t != run && n > 0 {
			p.count.get(run).Add(float64(n))
			n = 0
		}
		run = t
		n++
	}
	if n > 0 {
		p.count.get(run).Add(float64(n))
	}
}

// consumerSeries are one topic's series for one group, bound once.
type consumerSeries struct {
	consumed, dead                 prometheus.Counter
	okTime, retryTime, deadLetTime prometheus.Observer
}

// Observe returns a stream.ConsumerConfig.Observe for group: every attempt
// at a record is timed in kafkakit_handler_duration_seconds by outcome, a
// finished record (applied or dead-lettered) counts in
// kafkakit_messages_consumed_total, a dead-lettered one in
// kafkakit_dead_letters_total too. An attempt cut short by a rebalance or
// shutdown is not counted: the record will be delivered again.
func (m *Metrics) Observe(group string) func(stream.Outcome) {
	series := newBound(func(topic string) consumerSeries {
		return consumerSeries{
			consumed:    m.consumed.WithLabelValues(topic, group),
			dead:        m.dead.WithLabelValues(topic, group),
			okTime:      m.handler.WithLabelValues(topic, group, string(stream.ResultOK)),
			retryTime:   m.handler.WithLabelValues(topic, group, string(stream.ResultRetry)),
			deadLetTime: m.handler.WithLabelValues(topic, group, string(stream.ResultDeadLetter)),
		}
	})
	return func(o stream.Outcome) {
		s := series.get(o.Topic)
		switch o.Result {
		case stream.ResultOK:
			s.okTime.Observe(o.Duration.Seconds())
			s.consumed.Inc()
		case stream.ResultRetry:
			s.retryTime.Observe(o.Duration.Seconds())
		case stream.ResultDeadLetter:
			s.deadLetTime.Observe(o.Duration.Seconds())
			s.consumed.Inc()
			s.dead.Inc()
		}
	}
}

// Consumed returns a function that records one record of topic handled by
// a reader without a consumer group (notifications-api's tail) in
// kafkakit_messages_consumed_total (group "") and its time as an ok
// attempt.
func (m *Metrics) Consumed(topic string) func(took time.Duration) {
	consumed := m.consumed.WithLabelValues(topic, "")
	took := m.handler.WithLabelValues(topic, "", string(stream.ResultOK))
	return func(d time.Duration) {
		took.Observe(d.Seconds())
		consumed.Inc()
	}
}
