package child

import (
	"fmt"
	"net"
)

// FreePorts returns n distinct free loopback ports, holding every listener
// until all are chosen so that no two are the same port. Another process
// could still take one before the child binds it; the child then exits with
// "Address already in use", which its start reports.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

// FreePort returns one free loopback port (see FreePorts).
func FreePort() (int, error) {
	ports, err := FreePorts(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}
