package child

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Ports for children are picked from a range below the kernel's ephemeral
// ports. The kernel hands ephemeral ports to every outgoing connection and to
// every bind of port 0, so a port picked there and released for a child to
// bind could be taken in between by any client connection on the machine or
// by another test binary's pick (CI once saw a child fail "address already in
// use" on such a port while the unit tests ran in parallel).
// Below the range only an explicit bind takes a port, and the test binaries
// of the kit reserve each port they pick with a lock file held until they
// exit, so two of them never pick the same one.
const (
	pickLow  = 20000
	pickHigh = 32767 // below Linux's default ephemeral range, 32768–60999
)

var (
	reservedMu sync.Mutex
	reserved   []*os.File // lock files held for the life of the process
)

// FreePorts returns n distinct free loopback ports below the ephemeral range,
// each reserved for this process (see pickLow). A process that is not the
// kit's can still bind one before the child does; the child then exits with
// "Address already in use", which its start reports.
func FreePorts(n int) ([]int, error) {
	low, high := pickRange()
	if high-low < 1000 {
		return kernelPorts(n)
	}
	dir := filepath.Join(os.TempDir(), "kafkakit-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return kernelPorts(n) // no lock files (another user's directory): no reservations
	}
	ports := make([]int, 0, n)
	span := high - low + 1
	start := rand.IntN(span)
	for i := 0; i < span && len(ports) < n; i++ {
		port := low + (start+i)%span
		ok, err := reserve(dir, port)
		if err != nil {
			return kernelPorts(n)
		}
		if ok {
			ports = append(ports, port)
		}
	}
	if len(ports) < n {
		return nil, fmt.Errorf("pick a free port: none left in %d–%d", low, high)
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

// reserve takes port's lock file and checks that nothing listens on the
// port. The lock is held until the process exits: a child restarted on its
// port finds it still reserved for it. The error is for a lock file that
// cannot be opened at all.
func reserve(dir string, port int) (bool, error) {
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(port)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return false, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return false, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		f.Close() // closing releases the lock
		return false, nil
	}
	l.Close()
	reservedMu.Lock()
	reserved = append(reserved, f)
	reservedMu.Unlock()
	return true, nil
}

// pickRange is pickLow–pickHigh, ending below the ephemeral range where the
// kernel says it starts lower.
func pickRange() (int, int) {
	high := pickHigh
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if lo, err := strconv.Atoi(f[0]); err == nil && lo-1 < high {
				high = lo - 1
			}
		}
	}
	return pickLow, high
}

// kernelPorts asks the kernel for n free ports, holding every listener until
// all are chosen so that no two are the same: the fallback where the
// ephemeral range leaves too little room below it.
func kernelPorts(n int) ([]int, error) {
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
