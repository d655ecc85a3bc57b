package prober

import (
	"errors"
	"syscall"
)

// syscallError marks an error of our own socket set-up, so that it is
// classified as a local failure, not as a network answer.
type syscallError struct {
	call string
	err  error
}

func (e *syscallError) Error() string { return e.call + ": " + e.err.Error() }
func (e *syscallError) Unwrap() error { return e.err }

// errnoOf digs the errno out of a dial error.
func errnoOf(err error) syscall.Errno {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return 0
}
