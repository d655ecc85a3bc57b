//go:build !linux

package prober

import (
	"errors"
	"syscall"

	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// errQueue is Linux-only; elsewhere the verdict rests on errno alone.
type errQueue struct{}

func (q *errQueue) arm(bool, uintptr) error { return nil }
func (q *errQueue) read() *verdict.ICMP     { return nil }
func (q *errQueue) close()                  {}

type syscallError struct {
	call string
	err  error
}

func (e *syscallError) Error() string { return e.call + ": " + e.err.Error() }
func (e *syscallError) Unwrap() error { return e.err }

func errnoOf(err error) syscall.Errno {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return 0
}
