package stream

import (
	"errors"
	"strings"

	"github.com/segmentio/kafka-go"
)

// Denied describes an authorization refusal in err as Kafka names it and
// for whom — "TOPIC_AUTHORIZATION_FAILED for User:stock-service" — or
// returns "" when err is no refusal. principal is the SASL user the client
// signed in as ("" for none: Kafka calls that User:ANONYMOUS). The words are
// fixed and name no record, so a readiness body may carry them: an operator
// reading /readyz learns which ACL is missing without opening the log.
func Denied(err error, principal string) string {
	var ke kafka.Error
	if !errors.As(err, &ke) {
		return ""
	}
	switch ke {
	case kafka.TopicAuthorizationFailed, kafka.GroupAuthorizationFailed, kafka.ClusterAuthorizationFailed,
		kafka.TransactionalIDAuthorizationFailed, kafka.DelegationTokenAuthorizationFailed:
	default:
		return ""
	}
	if principal == "" {
		principal = "ANONYMOUS"
	}
	// kafka-go has the title ("Topic Authorization Failed"), Kafka's own
	// name is its upper snake case, which is what the broker's log and
	// every other client print.
	return strings.ToUpper(strings.ReplaceAll(ke.Title(), " ", "_")) + " for User:" + principal
}
