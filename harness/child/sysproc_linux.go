package child

import "syscall"

// sysProcAttr puts each child in a process group of its own, so Stop can
// signal it and anything it spawned at once, and asks the kernel to kill it
// when the harness dies (a test binary killed by its -timeout must not leave
// ZooKeeper, Kafka or PostgreSQL holding their ports).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
