// Package exporterproc builds the exporter from the module under test and
// runs it (or any helper program: Prometheus, Alertmanager) as a child
// process for a test: its output kept for the failure report, stopped by
// its PID, and waited for until its readiness URL answers 200. It is test
// tooling; the exporter never imports it.
package exporterproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// modulePath is the exporter's module, the one Build builds.
const modulePath = "github.com/tcp-verdict/tcp_verdict_exporter"

// Build builds the exporter from the module enclosing the working
// directory (a test runs in its package's folder) into dir and returns the
// binary's path.
func Build(dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		// sudo's secure_path may drop Go's folder: try $GOROOT, then
		// where Go's own installer puts it (scripts/test.sh does the same).
		goTool = "/usr/local/go/bin/go"
		if root := os.Getenv("GOROOT"); root != "" {
			goTool = filepath.Join(root, "bin", "go")
		}
	}
	bin := filepath.Join(dir, "tcp_verdict_exporter")
	cmd := exec.Command(goTool, "build", "-o", bin, ".")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
}

// moduleRoot is the nearest folder at or above the working directory with
// a go.mod, which must be the exporter's.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil {
			if !bytes.Contains(data, []byte("module "+modulePath+"\n")) {
				return "", fmt.Errorf("%s is not the exporter's module root", dir)
			}
			return dir, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod at or above the working directory")
		}
		dir = parent
	}
}

// Log collects a process's output; it is safe for concurrent use.
type Log struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Tail is the output's last n bytes, for a failure message.
func (l *Log) Tail(n int) string {
	s := l.String()
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// tailBytes bounds the output quoted in an error or a failed test's log.
const tailBytes = 3000

// Process is a running child process.
type Process struct {
	Name string
	Cmd  *exec.Cmd
	Log  *Log // its standard output and error

	done    chan struct{}
	waitErr error
}

// Start starts cmd, its output going to the Process's Log. On Linux the
// child is killed if the thread that started it ends (PR_SET_PDEATHSIG):
// a test binary that dies before its cleanups run takes it along.
func Start(name string, cmd *exec.Cmd) (*Process, error) {
	p := &Process{Name: name, Cmd: cmd, Log: &Log{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.Log, p.Log
	setPdeathsig(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() { p.waitErr = cmd.Wait(); close(p.done) }()
	return p, nil
}

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.done }

// Err is how the process ended (exec.Cmd.Wait's error); read it after
// Exited is closed.
func (p *Process) Err() error { return p.waitErr }

// Stop ends the process by its PID: SIGTERM, then SIGKILL if it has not
// exited after grace. It reports whether it had to kill it.
func (p *Process) Stop(grace time.Duration) (killed bool) {
	select {
	case <-p.done:
		return false
	default:
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM) // it may have exited meanwhile; done tells
	select {
	case <-p.done:
		return false
	case <-time.After(grace):
		_ = p.Cmd.Process.Kill() // it may have exited meanwhile; done tells
		<-p.done
		return true
	}
}

// WaitReady polls url through client, each attempt bounded by attempt,
// until it answers 200. It fails when the process exits first or ctx ends.
func (p *Process) WaitReady(ctx context.Context, client *http.Client, url string, attempt time.Duration) error {
	pid := p.Cmd.Process.Pid
	var err error
	for {
		select {
		case <-p.done:
			return fmt.Errorf("%s (PID %d) exited at start (%v):\n%s", p.Name, pid, p.Cmd.ProcessState, p.Log.Tail(tailBytes))
		default:
		}
		var ready bool
		if ready, err = get200(ctx, client, url, attempt); ready {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s (PID %d) not ready at %s: %v (last attempt: %v)\n%s", p.Name, pid, url, ctx.Err(), err, p.Log.Tail(tailBytes))
		case <-p.done:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func get200(ctx context.Context, client *http.Client, url string, attempt time.Duration) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, attempt)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err
	}
	_ = resp.Body.Close() // only the status matters
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("HTTP %s", resp.Status)
	}
	return true, nil
}

// directClient never goes through a proxy: every process here is local.
var directClient = &http.Client{Transport: &http.Transport{Proxy: nil}}

// Run starts cmd as name for the test, stops it when the test ends
// (SIGTERM, then SIGKILL after 5 s) and logs its output if the test
// failed, and waits (within ctx) until ready answers 200; it fails the test
// when the process cannot start, exits first or is not ready in time.
func Run(ctx context.Context, t testing.TB, name string, cmd *exec.Cmd, ready string) *Process {
	t.Helper()
	return RunVia(ctx, t, name, cmd, ready, func(start func()) { start() }, directClient)
}

// RunVia is Run with the start made through spawn (which must call its
// argument before returning, e.g. on a thread inside a network namespace)
// and readiness asked through client.
func RunVia(ctx context.Context, t testing.TB, name string, cmd *exec.Cmd, ready string, spawn func(func()), client *http.Client) *Process {
	t.Helper()
	var p *Process
	var err error
	spawn(func() { p, err = Start(name, cmd) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.Stop(5 * time.Second) {
			t.Logf("%s (PID %d) ignored SIGTERM; killed it", name, cmd.Process.Pid)
		}
		if t.Failed() {
			t.Logf("%s (PID %d) output:\n%s", name, cmd.Process.Pid, p.Log.Tail(tailBytes))
		}
	})
	if err := p.WaitReady(ctx, client, ready, time.Second); err != nil {
		t.Fatal(err)
	}
	return p
}
