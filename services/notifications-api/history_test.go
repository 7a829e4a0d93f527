package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kafkakit/kit/services/events"
)

// at is a status of the test order with seq n (0: written before seq).
func at(s events.Status, n int) events.OrderStatus {
	st := status(s)
	st.Seq = n
	return st
}

// TestHistoryNeverTakesAnOrderBack feeds an order's records, in topic order,
// to a history that a subscriber follows as a stream does (subscribe, then
// read Since its last id on each wake) and checks what the subscriber got:
// no repeat, nothing stale, no status earlier than one it already has.
func TestHistoryNeverTakesAnOrderBack(t *testing.T) {
	const c, p, paid, failed = events.StatusCreated, events.StatusProcessing, events.StatusPaid, events.StatusFailed
	tests := []struct {
		name string
		recs []events.OrderStatus
		want []events.Status
	}{
		{"one lifecycle", []events.OrderStatus{at(c, 1), at(p, 2), at(paid, 3)}, []events.Status{c, p, paid}},
		// A redelivered reservation answered again after PAID: the first of
		// each status hid this before seq, and still does.
		{"a redelivered lifecycle after PAID", []events.OrderStatus{at(c, 1), at(p, 2), at(paid, 3), at(c, 1), at(p, 2), at(paid, 3)}, []events.Status{c, p, paid}},
		{"a resent record", []events.OrderStatus{at(c, 1), at(c, 1), at(p, 2), at(paid, 3), at(paid, 3)}, []events.Status{c, p, paid}},
		// New with seq: a stale status the order has not had yet arrives
		// after a later one (a relay's resend behind PAID).
		{"a stale PROCESSING after PAID", []events.OrderStatus{at(c, 1), at(paid, 3), at(p, 2)}, []events.Status{c, paid}},
		// New with seq: the topic's retention deleted the first lifecycle up
		// to PAID, so a replay begins at PAID and then meets the redelivery.
		{"a replay that begins at PAID", []events.OrderStatus{at(paid, 3), at(c, 1), at(p, 2), at(paid, 3)}, []events.Status{paid}},
		{"a rejected order answered again", []events.OrderStatus{at(c, 1), at(failed, 2), at(c, 1), at(failed, 2)}, []events.Status{c, failed}},
		{"records without seq keep the first of each status", []events.OrderStatus{at(c, 0), at(p, 0), at(paid, 0), at(c, 0), at(p, 0), at(paid, 0)}, []events.Status{c, p, paid}},
		{"seq begins partway through a lifecycle", []events.OrderStatus{at(c, 0), at(p, 2), at(paid, 3), at(c, 1), at(p, 0)}, []events.Status{c, p, paid}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHistory(limits)
			// Subscribed before the order's first status, as a browser that
			// follows an order straight away.
			news, _, cancel, err := h.Subscribe(order)
			if err != nil {
				t.Fatalf("Subscribe: %v", err)
			}
			t.Cleanup(cancel)
			last := 0 // the id of the last event the subscriber has
			var got []string
			for i, r := range tt.recs {
				added := h.Add(r)
				woken := len(news) == 1
				if woken {
					<-news
				}
				sent := h.Since(order, last)
				if added != woken || added != (len(sent) > 0) {
					t.Errorf("record %d (%s seq %d): Add = %v, woke the subscriber %v, sent %d", i, r.Status, r.Seq, added, woken, len(sent))
				}
				for _, s := range sent {
					last++
					got = append(got, fmt.Sprintf("%d:%s", last, s.Status))
				}
			}
			var want []string
			for i, s := range tt.want {
				want = append(want, fmt.Sprintf("%d:%s", i+1, s))
			}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("the subscriber got %v, want %v", got, want)
			}
		})
	}
}

// TestEventsResumeSkipsStaleStatuses: event ids count only the statuses
// kept, so a stream resuming after the final one gets nothing more, however
// many stale records followed it on the topic.
func TestEventsResumeSkipsStaleStatuses(t *testing.T) {
	url, h, _ := newTestServer(t)
	for _, s := range []events.OrderStatus{at(events.StatusCreated, 1), at(events.StatusPaid, 3), at(events.StatusProcessing, 2)} {
		h.Add(s)
	}
	_, sc := open(t, url+"/events?orderId="+order, "2")
	// The stream sends the history it has before it waits, so an event, if
	// any, comes before the first heartbeat.
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, ":") {
			return
		}
		if strings.HasPrefix(line, "id: ") || strings.HasPrefix(line, "data: ") {
			t.Fatalf("resuming after id 2 (PAID) sent %q, want nothing before a heartbeat", line)
		}
	}
	t.Fatalf("stream ended without a heartbeat: %v", sc.Err())
}
