package events_test

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/kafkakit/kit/services/events"
)

func ExampleOrderStatus() {
	s := events.OrderStatus{
		OrderID:     "5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10",
		Status:      events.StatusFailed,
		Reason:      "payment declined",
		FailureKind: events.FailurePaymentDeclined,
		Seq:         3,
		UpdatedAt:   time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC),
	}
	b, _ := json.Marshal(s)
	fmt.Println(string(b))
	fmt.Println(events.DLQ(events.TopicOrdersCreated))
	// Output:
	// {"orderId":"5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10","status":"FAILED","reason":"payment declined","failureKind":"PAYMENT_DECLINED","seq":3,"updatedAt":"2026-11-25T09:30:00Z"}
	// orders.created.dlq
}
