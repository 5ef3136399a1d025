package pgtest

import (
	"os/exec"
	"syscall"
)

// runAs makes cmd run as owner (nil: the current user), and be stopped
// should the test binary die without calling Stop, as it does when a test
// times out: SIGQUIT is PostgreSQL's immediate shutdown, which also ends
// the server's own children.
func runAs(cmd *exec.Cmd, owner *account) error {
	attr := &syscall.SysProcAttr{Pdeathsig: syscall.SIGQUIT}
	if owner != nil {
		attr.Credential = &syscall.Credential{Uid: uint32(owner.uid), Gid: uint32(owner.gid)}
	}
	cmd.SysProcAttr = attr
	return nil
}
