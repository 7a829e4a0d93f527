package events_test

import (
	"strings"
	"testing"

	"github.com/kafkakit/kit/services/events"
)

func TestTolerantDecodersSkipUnknownMembersAndCheckTheRest(t *testing.T) {
	const status = `{"orderId":"5f0c7e0a-8d1e-4b8e-9a52-3c1f2f6f7a10","status":"PAID","updatedAt":"2026-11-25T09:30:00Z"`
	for _, tc := range []struct {
		name       string
		raw        string
		strictErr  string // "" accepted
		tolerantOK bool
	}{
		{"a member the contract does not name", status + `,"channel":"web"}`, "channel", true},
		{"the contract's own members", status + `}`, "", true},
		{"a known member broken", strings.Replace(status, "PAID", "LOST", 1) + `,"channel":"web"}`, "channel", false},
		{"a name twice", status + `,"status":"PAID"}`, "status", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := events.DecodeOrderStatus([]byte(tc.raw))
			if tc.strictErr == "" && err != nil || tc.strictErr != "" && (err == nil || !strings.Contains(err.Error(), tc.strictErr)) {
				t.Errorf("strict: got %v, want an error naming %q (none if empty)", err, tc.strictErr)
			}
			got, err := events.DecodeOrderStatusTolerant([]byte(tc.raw))
			if (err == nil) != tc.tolerantOK {
				t.Errorf("tolerant: got %v, want ok=%v", err, tc.tolerantOK)
			}
			if tc.tolerantOK && got.Status != events.StatusPaid {
				t.Errorf("tolerant: got status %q, want PAID", got.Status)
			}
		})
	}
	for name, decode := range map[string]func([]byte) error{
		"orders.created":     func(b []byte) error { _, err := events.DecodeOrderCreatedTolerant(b); return err },
		"stock.reservations": func(b []byte) error { _, err := events.DecodeStockReservationTolerant(b); return err },
		"inventory.updated":  func(b []byte) error { _, err := events.DecodeInventoryUpdatedTolerant(b); return err },
	} {
		if err := decode([]byte(`{"unknown":1}`)); err == nil || !strings.Contains(err.Error(), "is required") {
			t.Errorf("%s tolerant of {unknown}: got %v, want its required fields asked for", name, err)
		}
	}
}
