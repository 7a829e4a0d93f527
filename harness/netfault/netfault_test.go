package netfault

import (
	"bufio"
	"fmt"
	"github.com/kafkakit/kit/harness/internal/syncbuf"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseFault(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Fault
		wantErr bool
	}{
		{in: "latency=500ms", want: Fault{Kind: Latency, Delay: 500 * time.Millisecond}},
		{in: "bandwidth=10", want: Fault{Kind: Bandwidth, RateKB: 10}},
		{in: "bandwidth=10KB/s", want: Fault{Kind: Bandwidth, RateKB: 10}},
		{in: "reset=3s", want: Fault{Kind: Reset, Every: 3 * time.Second}},
		{in: "cut", want: Fault{Kind: Cut}},
		{in: "down", want: Fault{Kind: Down}},
		{in: "latency=0s", wantErr: true},
		{in: "latency=soon", wantErr: true},
		{in: "bandwidth=0", wantErr: true},
		{in: "cut=3s", wantErr: true},
		{in: "jitter=1s", wantErr: true},
	} {
		got, err := ParseFault(tc.in)
		if (err != nil) != tc.wantErr || err == nil && got != tc.want {
			t.Errorf("ParseFault(%q) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
		if err == nil {
			if again, err := ParseFault(got.String()); err != nil || again != got {
				t.Errorf("ParseFault(%q.String() = %q) = %+v, %v; want it back", tc.in, got.String(), again, err)
			}
		}
	}
}

func TestSelect(t *testing.T) {
	l := New(nil)
	t.Cleanup(func() { _ = l.Close() })
	up := echo(t)
	for _, name := range []string{
		LinkName("orders-api", "broker-0"), LinkName("orders-api-2", "broker-0"), LinkName("orders-api", Database),
		LinkName("orders-processor", "broker-0"), LinkName("orders-processor", "broker-1"),
		LinkName(Brokers, "broker-0"), LinkName(Brokers, "broker-2"),
	} {
		if err := l.Add(name, "127.0.0.1:0", up); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		service, target string
		want            []string
	}{
		{"orders-api", Broker, []string{"orders-api-2_to_broker-0", "orders-api_to_broker-0"}},
		{"orders-api-2", Broker, []string{"orders-api-2_to_broker-0"}},
		{"orders-api", Database, []string{"orders-api_to_database"}},
		{"orders-processor", "broker-1", []string{"orders-processor_to_broker-1"}},
		{"orders", Broker, nil},
		{"stock-service", Broker, nil},
		// What the other brokers send broker 2 is no service's link.
		{Brokers, "broker-2", []string{"brokers_to_broker-2"}},
		{"broker", Broker, nil},
	} {
		got, err := l.Select(tc.service, tc.target)
		if !slices.Equal(got, tc.want) || (err != nil) != (tc.want == nil) {
			t.Errorf("Select(%s, %s) = %q, %v; want %q", tc.service, tc.target, got, err, tc.want)
		}
	}
}

// TestFaults runs each fault on a link to an echo server and heals it:
// down refuses, cut swallows, reset closes, latency delays.
func TestFaults(t *testing.T) {
	l := New(nil)
	t.Cleanup(func() { _ = l.Close() })
	const name = "svc_to_broker-0"
	if err := l.Add(name, "127.0.0.1:0", echo(t)); err != nil {
		t.Fatal(err)
	}
	addr, err := l.Listen(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(addr, time.Second); err != nil {
		t.Fatalf("healthy link: %v", err)
	}

	apply := func(f Fault) {
		t.Helper()
		if err := l.Apply(name, f); err != nil {
			t.Fatal(err)
		}
	}
	heal := func() {
		t.Helper()
		if err := l.Heal(name); err != nil {
			t.Fatal(err)
		}
		if err := roundTrip(addr, 5*time.Second); err != nil {
			t.Fatalf("healed link: %v", err)
		}
	}

	apply(Fault{Kind: Down})
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("a link that is down accepted a connection")
	}
	heal()

	apply(Fault{Kind: Cut})
	if err := roundTrip(addr, 300*time.Millisecond); err == nil {
		t.Error("a cut link carried data")
	}
	if got := l.Faults(name); len(got) != 1 || got[0].Kind != Cut {
		t.Errorf("Faults = %v, want [cut]", got)
	}
	heal()

	apply(Fault{Kind: Latency, Delay: 200 * time.Millisecond})
	began := time.Now()
	if err := roundTrip(addr, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// The delay is the fault's own floor, not a timing assertion on the
	// machine: an answer cannot come before it.
	if took := time.Since(began); took < 200*time.Millisecond {
		t.Errorf("an answer through 200ms of latency took %v", took)
	}
	heal()

	apply(Fault{Kind: Bandwidth, RateKB: 1})
	began = time.Now()
	line := strings.Repeat("x", 3000) + "\n"
	if err := roundTripLine(addr, line, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	// 3 KB back at 1 KB/s: the answer cannot be whole in under 2 s
	// whatever the machine's speed.
	if took := time.Since(began); took < 2*time.Second {
		t.Errorf("3 KB through a 1 KB/s link came back in %v", took)
	}
	heal()

	apply(Fault{Kind: Reset, Every: time.Millisecond})
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.Write([]byte("ping\n"))
	if _, err := bufio.NewReader(c).ReadString('\n'); err == nil {
		t.Error("a link resetting its connections answered")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Errorf("a link resetting its connections kept the connection open: %v", err)
	}
	heal()
}

// echo starts a line echo server and returns its address.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := c.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// roundTrip sends a line through addr and waits up to within for it back.
func roundTrip(addr string, within time.Duration) error {
	return roundTripLine(addr, "ping\n", within)
}

// roundTripLine sends line through addr and waits up to within for it back
// whole.
func roundTripLine(addr, line string, within time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, within)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(within))
	if _, err := c.Write([]byte(line)); err != nil {
		return err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err == nil && got != line {
		return fmt.Errorf("sent %d bytes, got %d back", len(line), len(got))
	}
	return err
}

// A connection ending is what every client does; toxiproxy warns "Source
// terminated" for each one, which under kit up -faults drowned the stack's
// own lines (hundreds a minute). Those go; real warnings stay.
func TestClosedConnectionsAreNotWarnedAbout(t *testing.T) {
	var log syncbuf.Buffer
	l := New(&log)
	const name = "svc_to_broker-0"
	if err := l.Add(name, "127.0.0.1:0", echo(t)); err != nil {
		t.Fatal(err)
	}
	addr, err := l.Listen(name)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if err := roundTrip(addr, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := log.String(); strings.Contains(got, "Source terminated") {
		t.Errorf("closed connections were warned about:\n%s", got)
	}
}
