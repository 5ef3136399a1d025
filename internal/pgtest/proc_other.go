//go:build !linux

package pgtest

import (
	"errors"
	"os/exec"
)

// runAs can only run cmd as the current user here.
func runAs(_ *exec.Cmd, owner *account) error {
	if owner != nil {
		return errors.New("running the server as another user is supported only on Linux: run the tests as an ordinary user")
	}
	return nil
}
