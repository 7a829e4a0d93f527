package child

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestFreePortsAreReservedBelowTheEphemeralRange(t *testing.T) {
	low, high := pickRange()
	ports, err := FreePorts(40)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	dir := filepath.Join(os.TempDir(), "kafkakit-ports")
	for _, p := range ports {
		if seen[p] {
			t.Fatalf("port %d picked twice in %v", p, ports)
		}
		seen[p] = true
		if p < low || p > high {
			t.Errorf("port %d outside %d–%d", p, low, high)
		}
		if ok, _ := reserve(dir, p); ok {
			t.Errorf("port %d could be reserved again while this process holds it", p)
		}
	}
	more, err := FreePorts(40)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range more {
		if seen[p] {
			t.Errorf("port %d given out twice", p)
		}
	}
}

func TestAPortSomeoneListensOnIsNotReserved(t *testing.T) {
	low, high := pickRange()
	dir := filepath.Join(os.TempDir(), "kafkakit-ports")
	for port := high; port >= low; port-- {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		defer l.Close()
		if ok, err := reserve(dir, port); ok || err != nil {
			t.Fatalf("port %d reserved while a listener holds it (%v)", port, err)
		}
		return
	}
	t.Fatal("no port to listen on in the range")
}
