package main

import "syscall"

// sysProcAttr makes the broker process die with the runner, even on kill -9.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
