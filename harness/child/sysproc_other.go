//go:build !linux

package child

import "syscall"

// sysProcAttr puts each child in a process group of its own, so Stop can
// signal it and anything it spawned at once. Outside Linux there is no
// parent-death signal: a harness killed outright leaves the children running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
