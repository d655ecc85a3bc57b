//go:build !linux

package prober

import "github.com/tcp-verdict/tcp_verdict_exporter/verdict"

// errQueue is Linux-only; elsewhere the verdict rests on errno alone.
type errQueue struct{}

func (q *errQueue) arm(bool, uintptr) error { return nil }
func (q *errQueue) read() *verdict.ICMP     { return nil }
func (q *errQueue) close()                  {}
