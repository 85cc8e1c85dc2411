//go:build !linux

package testenv

import "syscall"

// tiedToParent puts a child process in its own process group. Only Linux
// can kill it when the parent dies; elsewhere it outlives the test binary.
func tiedToParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
