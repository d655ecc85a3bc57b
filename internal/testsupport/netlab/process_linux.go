//go:build linux

package netlab

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/exporterproc"
)

// spawnThread is one OS thread, locked and never moved to a namespace, that
// starts the child processes. PR_SET_PDEATHSIG fires when the *thread* that
// forked a child ends, and Go ends the threads InNS used; a child forked
// here is killed only when the test process itself dies.
var spawnThread = func() chan func() {
	ch := make(chan func())
	go func() {
		runtime.LockOSThread()
		for f := range ch {
			f()
		}
	}()
	return ch
}()

// Spawn runs f, which starts child processes, on spawnThread and waits for
// it.
func Spawn(f func()) {
	ran := make(chan struct{})
	spawnThread <- func() { f(); close(ran) }
	<-ran
}

// Client is an HTTP client whose connections are made inside ns, never
// through a proxy.
func Client(ns string, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true, DialContext: Dialer(ns)}}
}

// Run starts argv inside ns (`ip netns exec`, so the namespace's
// /etc/netns files apply; Go programs use Go's own resolver, which reads
// only the namespace's resolv.conf), stops it by its PID when the test
// ends (logging its output if the test failed), and waits within ctx until
// ready, a URL inside ns, answers 200.
func Run(ctx context.Context, t testing.TB, ns, name, ready string, argv ...string) *exporterproc.Process {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...)
	cmd.Env = append(os.Environ(), "GODEBUG=netdns=go")
	return exporterproc.RunVia(ctx, t, name, cmd, ready, Spawn, Client(ns, 2*time.Second))
}
