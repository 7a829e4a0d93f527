package features

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cucumber/godog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkakit/kit/harness/broker"
	"github.com/kafkakit/kit/harness/broker/security"
	"github.com/kafkakit/kit/services/events"
)

// securityWorld is a security scenario's state, in its context: who the
// outsider is and what Kafka (or the connection) answered the last attempt.
type securityWorld struct {
	outsider, outsiderPassword string
	answer                     error
}

type securityKey struct{}

func securitySteps(sc *godog.ScenarioContext) {
	sc.Before(func(ctx context.Context, _ *godog.Scenario) (context.Context, error) {
		return context.WithValue(ctx, securityKey{}, &securityWorld{}), nil
	})
	sc.When(`^a client without credentials asks the broker for its topics$`, withoutCredentials)
	sc.When(`^the order service's account signs in with a wrong password$`, wrongPassword)
	sc.When(`^a client that trusts only the usual authorities signs in as the kit$`, untrustingClient)
	sc.When(`^the stock service's account announces that an order is paid$`, stockServiceAnnouncesPaid)
	sc.Given(`^an outsider with an account of its own$`, anOutsider)
	sc.When(`^the outsider announces that an order is paid$`, outsiderAnnouncesPaid)
	sc.When(`^the outsider joins the stock service's consumer group$`, outsiderJoinsStockGroup)
	sc.When(`^the outsider reads the placed orders$`, outsiderReadsOrders)
	sc.Then(`^Kafka answers ([A-Z_]+)$`, kafkaAnswers)
	sc.Then(`^the broker closes the connection without answering$`, connectionClosed)
	sc.Then(`^the client refuses the broker's certificate$`, certificateRefused)
}

func securityOf(ctx context.Context) (*securityWorld, *security.Material, error) {
	m := the(ctx).stack.Security()
	if m == nil {
		return nil, nil, errors.New("the stack is not locked down: run with SECURITY=sasl_ssl")
	}
	return ctx.Value(securityKey{}).(*securityWorld), m, nil
}

// attempt runs try with a client of the stack's broker made of opts and
// keeps what came back. Requests are not retried: the first answer is the
// one a learner should read.
func attempt(ctx context.Context, opts []kgo.Opt, try func(context.Context, *kgo.Client) error) error {
	s, _, err := securityOf(ctx)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(slices.Concat([]kgo.Opt{
		kgo.SeedBrokers(the(ctx).stack.BrokerAddrs()...),
		kgo.RequestRetries(0), kgo.RecordRetries(1), kgo.RetryTimeout(5 * time.Second),
		// The services' kafka-go producers are not idempotent, and an
		// idempotent producer would ask for a cluster permission first.
		kgo.DisableIdempotentWrite(),
	}, opts)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := within(ctx)
	defer cancel()
	s.answer = try(ctx, cl)
	if s.answer == nil {
		return errors.New("the broker allowed it")
	}
	if errors.Is(s.answer, context.DeadlineExceeded) {
		return fmt.Errorf("no answer before the deadline: %w", s.answer)
	}
	return nil
}

func askMetadata(ctx context.Context, cl *kgo.Client) error {
	_, err := cl.Request(ctx, kmsg.NewPtrMetadataRequest())
	return err
}

// announcePaid produces a well-formed PAID status for an order of the
// scenario's own.
func announcePaid(ctx context.Context, cl *kgo.Client) error {
	order := "forged-" + the(ctx).token
	value, err := json.Marshal(events.OrderStatus{OrderID: order, Status: events.StatusPaid, UpdatedAt: time.Now().UTC()})
	if err != nil {
		return err
	}
	return cl.ProduceSync(ctx, &kgo.Record{Topic: events.TopicOrdersStatus, Key: []byte(order), Value: value}).FirstErr()
}

func withoutCredentials(ctx context.Context) error {
	_, m, err := securityOf(ctx)
	if err != nil {
		return err
	}
	// TLS that trusts the kit's CA, so only the missing credentials differ.
	return attempt(ctx, []kgo.Opt{kgo.DialTLSConfig(m.ClientTLS())}, askMetadata)
}

func wrongPassword(ctx context.Context) error {
	_, m, err := securityOf(ctx)
	if err != nil {
		return err
	}
	return attempt(ctx, m.KgoOpts(events.PrincipalOrdersAPI, "not-the-password-"+the(ctx).token), askMetadata)
}

func untrustingClient(ctx context.Context) error {
	_, m, err := securityOf(ctx)
	if err != nil {
		return err
	}
	opts := m.KitOpts()
	// The system's roots only: the kit's CA is in none of them.
	opts = append(opts, kgo.DialTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12}))
	return attempt(ctx, opts, askMetadata)
}

func stockServiceAnnouncesPaid(ctx context.Context) error {
	_, m, err := securityOf(ctx)
	if err != nil {
		return err
	}
	return attempt(ctx, m.KgoOpts(events.PrincipalStockService, m.Password(events.PrincipalStockService)), announcePaid)
}

// anOutsider creates a SCRAM user of the scenario's own, with no ACL, and
// waits until the broker lets it sign in (a new credential reaches the
// broker through ZooKeeper a moment after it is stored).
func anOutsider(ctx context.Context) error {
	s, m, err := securityOf(ctx)
	if err != nil {
		return err
	}
	w := the(ctx)
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	s.outsider, s.outsiderPassword = "outsider-"+w.token, hex.EncodeToString(b)
	admin, err := kgo.NewClient(append(broker.ClientOpts(w.stack.Broker()), kgo.SeedBrokers(w.stack.BrokerAddrs()...))...)
	if err != nil {
		return err
	}
	defer admin.Close()
	ctx, cancel := within(ctx)
	defer cancel()
	if err := security.UpsertUsers(ctx, kadm.NewClient(admin),
		kadm.UpsertSCRAM{User: s.outsider, Mechanism: kadm.ScramSha512, Iterations: 4096, Password: s.outsiderPassword}); err != nil {
		return err
	}
	return eventually(ctx, "the outsider can sign in", func() (bool, error) {
		cl, err := kgo.NewClient(slices.Concat([]kgo.Opt{kgo.SeedBrokers(w.stack.BrokerAddrs()...), kgo.RequestRetries(0)},
			m.KgoOpts(s.outsider, s.outsiderPassword))...)
		if err != nil {
			return false, err
		}
		defer cl.Close()
		err = askMetadata(ctx, cl)
		return err == nil, nil
	})
}

func outsiderOpts(ctx context.Context) ([]kgo.Opt, error) {
	s, m, err := securityOf(ctx)
	if err != nil {
		return nil, err
	}
	if s.outsider == "" {
		return nil, errors.New("no outsider yet: start with 'Given an outsider with an account of its own'")
	}
	return m.KgoOpts(s.outsider, s.outsiderPassword), nil
}

func outsiderAnnouncesPaid(ctx context.Context) error {
	opts, err := outsiderOpts(ctx)
	if err != nil {
		return err
	}
	return attempt(ctx, opts, announcePaid)
}

// outsiderJoinsStockGroup asks to join stock-service-cg as a consumer of
// orders.created: were it let in, a rebalance would hand it partitions and
// stock-service would stop reserving the orders on them.
func outsiderJoinsStockGroup(ctx context.Context) error {
	opts, err := outsiderOpts(ctx)
	if err != nil {
		return err
	}
	return attempt(ctx, opts, func(ctx context.Context, cl *kgo.Client) error {
		meta := kmsg.NewConsumerMemberMetadata()
		meta.Topics = []string{events.TopicOrdersCreated}
		proto := kmsg.NewJoinGroupRequestProtocol()
		proto.Name, proto.Metadata = "range", meta.AppendTo(nil)
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.ProtocolType = events.GroupStockService, "consumer"
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 6000, 10000
		req.Protocols = []kmsg.JoinGroupRequestProtocol{proto}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		return kerr.ErrorForCode(resp.ErrorCode)
	})
}

// outsiderReadsOrders consumes orders.created from its start, as anyone
// curious about users and their orders would.
func outsiderReadsOrders(ctx context.Context) error {
	opts, err := outsiderOpts(ctx)
	if err != nil {
		return err
	}
	opts = append(opts, kgo.ConsumeTopics(events.TopicOrdersCreated), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	return attempt(ctx, opts, func(ctx context.Context, cl *kgo.Client) error {
		for {
			fetches := cl.PollFetches(ctx)
			if errs := fetches.Errors(); len(errs) > 0 {
				return errs[0].Err
			}
			if fetches.NumRecords() > 0 {
				return nil // read: the step fails, saying the broker allowed it
			}
		}
	})
}

func kafkaAnswers(ctx context.Context, want string) error {
	s, _, err := securityOf(ctx)
	if err != nil {
		return err
	}
	var ke *kerr.Error
	if !errors.As(s.answer, &ke) {
		return fmt.Errorf("Kafka answered no error code but %v; want %s", s.answer, want)
	}
	fmt.Printf("      Kafka answered %s (error code %d): %s\n", ke.Message, ke.Code, ke.Description)
	if ke.Message != want {
		return fmt.Errorf("Kafka answered %s (%d), want %s", ke.Message, ke.Code, want)
	}
	return nil
}

func connectionClosed(ctx context.Context) error {
	s, _, err := securityOf(ctx)
	if err != nil {
		return err
	}
	var ke *kerr.Error
	if errors.As(s.answer, &ke) {
		return fmt.Errorf("Kafka answered %s (%d); want the connection closed without an answer", ke.Message, ke.Code)
	}
	fmt.Printf("      Kafka closed the connection: %v\n", s.answer)
	return nil
}

func certificateRefused(ctx context.Context) error {
	s, _, err := securityOf(ctx)
	if err != nil {
		return err
	}
	var unknown x509.UnknownAuthorityError
	var verify *tls.CertificateVerificationError
	if !errors.As(s.answer, &unknown) && !errors.As(s.answer, &verify) {
		return fmt.Errorf("the client failed with %v; want it to refuse the broker's certificate", s.answer)
	}
	fmt.Printf("      the client refused the broker: %v\n", s.answer)
	return nil
}
