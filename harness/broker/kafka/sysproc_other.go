//go:build !linux

package kafka

import "syscall"

// sysProcAttr puts each JVM in a process group of its own, so stop can
// signal it and anything it spawned at once. Outside Linux there is no
// parent-death signal: a harness killed outright leaves the JVMs running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
