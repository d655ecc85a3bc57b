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

// errSelfConnect says that every try of a dial connected the socket to
// itself: the kernel gave it the target's own address and port.
var errSelfConnect = errors.New("the socket connected to itself: the kernel chose the target's own port as the source port")

// selfConnectTries bounds the dials of a target that keeps meeting itself.
// With a normal ephemeral range the second try gets another port; with a
// one-port range (measured) every try gets the same one.
const selfConnectTries = 3

// errnoOf digs the errno out of a dial error.
func errnoOf(err error) syscall.Errno {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return 0
}
