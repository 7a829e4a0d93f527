package stream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// Routable is a readiness check: nil while one of brokers answers and w can
// route a record to every partition of each topic, as w itself sees the
// cluster.
//
// A producer routes from its transport's cached metadata, which kafka-go does
// not refresh when a write fails, so after a broker restart it can hold
// "unknown topic" (a restarted broker answers metadata before it knows its
// topics) until the next refresh; a write then fails at once. Asking that
// cache, rather than a fresh connection, makes /readyz say so instead of
// answering ready while every order would be refused. The cache also
// outlives a broker that went away, hence the live dial first.
func Routable(brokers []string, w *Producer, topics ...string) func(context.Context) error {
	client := &kafka.Client{Addr: w.Addr, Transport: w.Transport, Timeout: 3 * time.Second}
	return func(ctx context.Context) error {
		if err := Reachable(ctx, brokers, w.dialer); err != nil {
			return err
		}
		resp, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
		if err != nil {
			return fmt.Errorf("broker metadata: %w", err)
		}
		return unroutable(resp.Topics)
	}
}

// Reachable reports whether one of brokers accepts a connection — through
// the TLS handshake and SASL authentication when dialer asks for them — and
// answers an ApiVersions request. Each failure names its broker, so a wrong
// password or an untrusted certificate reads as such on /readyz. (A
// kafka-go Transport reports a refused password as a bare "unexpected EOF";
// its Dialer says what Kafka answered.)
func Reachable(ctx context.Context, brokers []string, dialer *kafka.Dialer) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	d := &kafka.Dialer{}
	if dialer != nil {
		d = &kafka.Dialer{TLS: dialer.TLS, SASLMechanism: dialer.SASLMechanism}
	}
	var errs []error
	for _, addr := range brokers {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			_, err = conn.ApiVersions()
			conn.Close()
		}
		if err == nil {
			return nil
		}
		errs = append(errs, refusal(addr, err))
	}
	return fmt.Errorf("broker unreachable: %w", errors.Join(errs...))
}

// unroutable names each topic that is missing or has a partition without a
// leader in a metadata answer.
func unroutable(topics []kafka.Topic) error {
	var problems []string
	for _, t := range topics {
		switch {
		case t.Error != nil:
			problems = append(problems, fmt.Sprintf("%s: %v", t.Name, t.Error))
		case len(t.Partitions) == 0:
			problems = append(problems, t.Name+": no partitions")
		default:
			for _, p := range t.Partitions {
				if p.Error != nil || p.Leader.ID < 0 {
					problems = append(problems, fmt.Sprintf("%s/%d: no leader (%v)", t.Name, p.ID, p.Error))
				}
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("cannot route to %s", strings.Join(problems, "; "))
	}
	return nil
}

// refusal names the broker that failed and, first, why, when
// the broker or the TLS handshake refused the service rather than nothing
// answering: the public part of a readiness reason (httpx.PublicReason)
// stops at the first address, and kafka-go puts one in its own message.
func refusal(addr string, err error) error {
	var ke kafka.Error
	var unknown x509.UnknownAuthorityError
	var verify *tls.CertificateVerificationError
	switch {
	case errors.As(err, &ke):
		return fmt.Errorf("%s: %w (broker %s)", ke.Title(), err, addr)
	case errors.As(err, &unknown), errors.As(err, &verify):
		return fmt.Errorf("broker certificate not trusted: %w (broker %s)", err, addr)
	}
	return fmt.Errorf("%w (broker %s)", err, addr)
}
