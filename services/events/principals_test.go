package events_test

import (
	"slices"
	"testing"

	"github.com/kafkakit/kit/services/events"
)

// TestPrincipalsMay holds the table in DESIGN.md ("Who may write where") row
// by row, with the denials that matter as much as the grants: nobody but the
// processor writes orders.status, nobody but stock-service joins its group.
func TestPrincipalsMay(t *testing.T) {
	const (
		topic = events.ResourceTopic
		group = events.ResourceGroup
		r     = events.OpRead
		w     = events.OpWrite
		d     = events.OpDescribe
	)
	tests := []struct {
		principal string
		op        events.Operation
		resource  events.Resource
		name      string
		want      bool
	}{
		{events.PrincipalOrdersAPI, w, topic, events.TopicOrdersCreated, true},
		{events.PrincipalOrdersAPI, d, topic, events.TopicOrdersCreated, true},
		{events.PrincipalOrdersAPI, r, topic, events.TopicOrdersCreated, false},
		{events.PrincipalOrdersAPI, w, topic, events.TopicOrdersStatus, false},
		{events.PrincipalOrdersAPI, r, group, events.GroupStockService, false},

		{events.PrincipalStockService, r, topic, events.TopicOrdersCreated, true},
		{events.PrincipalStockService, r, topic, events.TopicOrdersStatus, true},
		{events.PrincipalStockService, r, group, events.GroupStockService, true},
		{events.PrincipalStockService, w, topic, events.TopicStockReservations, true},
		{events.PrincipalStockService, w, topic, events.TopicInventoryUpdated, true},
		{events.PrincipalStockService, w, topic, events.DLQ(events.TopicOrdersCreated), true},
		{events.PrincipalStockService, w, topic, events.DLQ(events.TopicOrdersStatus), true},
		{events.PrincipalStockService, w, topic, events.TopicOrdersStatus, false},
		{events.PrincipalStockService, w, topic, events.TopicOrdersCreated, false},
		{events.PrincipalStockService, r, group, events.GroupOrdersProcessor, false},

		{events.PrincipalOrdersProcessor, r, topic, events.TopicStockReservations, true},
		{events.PrincipalOrdersProcessor, r, group, events.GroupOrdersProcessor, true},
		{events.PrincipalOrdersProcessor, w, topic, events.TopicOrdersStatus, true},
		{events.PrincipalOrdersProcessor, w, topic, events.DLQ(events.TopicStockReservations), true},
		{events.PrincipalOrdersProcessor, r, topic, events.TopicOrdersCreated, false},
		{events.PrincipalOrdersProcessor, w, topic, events.TopicStockReservations, false},
		{events.PrincipalOrdersProcessor, r, group, events.GroupStockService, false},

		{events.PrincipalNotificationsAPI, r, topic, events.TopicOrdersCreated, true},
		{events.PrincipalNotificationsAPI, r, topic, events.TopicOrdersStatus, true},
		{events.PrincipalNotificationsAPI, r, topic, events.DLQ(events.TopicInventoryUpdated), true},
		{events.PrincipalNotificationsAPI, d, group, events.GroupStockService, true},
		{events.PrincipalNotificationsAPI, d, group, events.GroupOrdersProcessor, true},
		{events.PrincipalNotificationsAPI, r, group, events.GroupStockService, false},
		{events.PrincipalNotificationsAPI, w, topic, events.TopicOrdersStatus, false},

		{events.PrincipalKit, w, topic, events.TopicOrdersStatus, true},
		{events.PrincipalKit, r, group, events.GroupStockService, true},
	}
	for _, tt := range tests {
		p, ok := events.PrincipalNamed(tt.principal)
		if !ok {
			t.Fatalf("PrincipalNamed(%q): not found", tt.principal)
		}
		if got := p.May(tt.op, tt.resource, tt.name); got != tt.want {
			t.Errorf("%s May(%s %s %s) = %v, want %v", tt.principal, tt.op, tt.resource, tt.name, got, tt.want)
		}
	}
}

// TestPrincipalsNameKitResources: every grant names one of the kit's topics,
// dead-letter topics or groups, so a typo cannot hide as an ACL on nothing.
func TestPrincipalsNameKitResources(t *testing.T) {
	var topics []string
	for _, name := range events.Topics {
		topics = append(topics, name, events.DLQ(name))
	}
	groups := []string{events.GroupStockService, events.GroupOrdersProcessor}
	var names []string
	for _, p := range events.Principals {
		if slices.Contains(names, p.Name) {
			t.Errorf("principal %s is declared twice", p.Name)
		}
		names = append(names, p.Name)
		if p.Super && len(p.Grants) > 0 {
			t.Errorf("%s is a super user with grants: one or the other", p.Name)
		}
		for _, g := range p.Grants {
			known := g.Resource == events.ResourceTopic && slices.Contains(topics, g.Name) ||
				g.Resource == events.ResourceGroup && slices.Contains(groups, g.Name)
			if !known {
				t.Errorf("%s: grant %+v names no kit topic or group", p.Name, g)
			}
		}
	}
	if _, ok := events.PrincipalNamed("outsider"); ok {
		t.Error(`PrincipalNamed("outsider") found a principal the kit does not declare`)
	}
}
