package harness

import "syscall"

// sysProcAttr makes a service die with the harness, even on kill -9.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
