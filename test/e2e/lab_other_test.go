//go:build !linux

package e2e

import (
	"testing"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testenv"
)

func TestLab(t *testing.T) {
	testenv.Skip(t, "the network-namespace lab needs Linux")
}
