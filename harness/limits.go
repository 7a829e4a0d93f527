package harness

import "syscall"

// RaiseOpenFileLimit lifts this process's soft open-file limit to its hard
// limit and returns the limit now in force. The services the harness starts
// inherit it: one connection or SSE stream is one file, and a shell's
// default soft limit (1024 on many systems) is below what notifications-api
// holds under load. kit up and the load runner both call it, so the
// services either starts run with the same limit.
func RaiseOpenFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur >= lim.Max {
		return lim.Cur, nil
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return lim.Cur, err
	}
	return lim.Cur, nil
}
