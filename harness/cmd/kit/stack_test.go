package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kafkakit/kit/harness"
	"github.com/kafkakit/kit/services/events"
)

func TestMain(m *testing.M) {
	code := m.Run()
	_ = harness.RemoveBuild()
	os.Exit(code)
}

// consumersBody is GET /consumers as the page reads it.
type consumersBody struct {
	At     time.Time `json:"at"`
	Groups []struct {
		GroupID string `json:"groupId"`
		State   string `json:"state"`
		Members []struct {
			MemberID    string `json:"memberId"`
			ClientID    string `json:"clientId"`
			Host        string `json:"host"`
			Assignments []struct {
				Topic      string `json:"topic"`
				Partitions []int  `json:"partitions"`
			} `json:"assignments"`
		} `json:"members"`
		Partitions []struct {
			Topic     string `json:"topic"`
			Partition int    `json:"partition"`
			Committed int64  `json:"committed"`
			End       int64  `json:"end"`
			Lag       int64  `json:"lag"`
			MemberID  string `json:"memberId"`
		} `json:"partitions"`
	} `json:"groups"`
}

// settled reports whether a group of the snapshot is Stable and its
// members own every partition of each topic they read.
func (b consumersBody) settled(group string) bool {
	for _, g := range b.Groups {
		if g.GroupID != group || g.State != "Stable" || len(g.Members) == 0 {
			continue
		}
		owned := map[string][]int{}
		for _, m := range g.Members {
			for _, a := range m.Assignments {
				owned[a.Topic] = append(owned[a.Topic], a.Partitions...)
			}
		}
		for topic, ps := range owned {
			slices.Sort(ps)
			if !slices.Equal(ps, []int{0, 1, 2}) || !slices.Contains(events.Topics, topic) {
				return false
			}
		}
		return len(owned) > 0 && len(g.Partitions) >= events.Partitions
	}
	return false
}

// TestRunningStackShowsItsConsumers starts the kit's services on the
// embedded broker and checks that notifications-api's GET /consumers and
// kit groups both show the services' consumer groups at work.
func TestRunningStackShowsItsConsumers(t *testing.T) {
	if testing.Short() {
		t.Skip("!!! SKIP under -short (make check): builds and starts the four services as processes; make unit runs it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stack, err := harness.Start(ctx, harness.Options{ServiceEnv: map[string]string{"PAYMENT_DELAY": "0"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stack.Close(context.Background()) })

	url := stack.URL(harness.NotificationsAPI) + "/consumers"
	var last consumersBody
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !last.settled(events.GroupOrdersProcessor) || !last.settled(events.GroupStockService) {
		select {
		case <-ctx.Done():
			t.Fatalf("GET /consumers never showed both kit groups settled; last: %+v\n%s", last, stack.Logs(harness.NotificationsAPI))
		case <-tick.C:
		}
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusOK {
			last = consumersBody{}
			if err := json.NewDecoder(resp.Body).Decode(&last); err != nil {
				t.Fatal(err)
			}
		}
		resp.Body.Close()
	}
	if last.At.IsZero() {
		t.Errorf("snapshot without a time: %+v", last)
	}

	out := mustKit(t, ctx, "groups", "-brokers", strings.Join(stack.BrokerAddrs(), ","))
	for _, g := range []string{events.GroupOrdersProcessor, events.GroupStockService} {
		if !strings.Contains(out, fmt.Sprintf("GROUP %s   state Stable", g)) {
			t.Errorf("kit groups lacks %s, Stable:\n%s", g, out)
		}
	}
}
