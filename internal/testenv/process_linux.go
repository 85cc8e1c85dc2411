package testenv

import "syscall"

// tiedToParent makes a child process get SIGKILL when its parent's thread
// that started it ends, and puts it in its own process group.
func tiedToParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
