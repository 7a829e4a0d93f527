package registry

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/kafkakit/kit/services/events"
	"github.com/kafkakit/kit/services/platform/schemaid"
)

// Seed registers every kit subject's published history, in order, into the
// registry at url and sets each subject to WriterLevel: so the registry's
// versions are the repository's (orders.status-value v3 is v3), ids of
// older versions resolve for records an older build wrote, and a producer
// that would register a breaking schema at run time is refused (by a
// registry that checks; srfake accepts everything). A registry that already
// holds them answers with their ids, so seeding twice changes nothing.
func Seed(ctx context.Context, url string) error {
	cl, err := NewClient(url)
	if err != nil {
		return fmt.Errorf("seed registry: %w", err)
	}
	ids, err := schemaid.New(url)
	if err != nil {
		return fmt.Errorf("seed registry: %w", err)
	}
	for _, topic := range events.Topics {
		subject := events.Subject(topic)
		if res := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: WriterLevel}, subject); res[0].Err != nil {
			return fmt.Errorf("seed registry: %s: set %s: %w", subject, WriterLevel, res[0].Err)
		}
		if _, err := ids.RegisterHistory(ctx, topic); err != nil {
			return fmt.Errorf("seed registry: %w", err)
		}
	}
	return nil
}
