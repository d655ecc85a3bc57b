//go:build linux

package e2e

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/netlab"
)

// teardown is the lab's list of undo steps. They run last-in first-out,
// each once, whether the tests end normally, fail, time out or are
// interrupted: every step names exactly what this run created (a namespace
// by name, a process by PID, a directory by path).
type teardown struct {
	mu     sync.Mutex
	steps  []teardownStep
	closed bool // the process is about to exit: undo new steps at once
}

type teardownStep struct {
	what string
	undo func() error
}

var cleanup teardown

func (td *teardown) add(what string, undo func() error) {
	td.mu.Lock()
	defer td.mu.Unlock()
	if td.closed {
		_ = undo() // after final(): nobody is left to report to
		return
	}
	td.steps = append(td.steps, teardownStep{what, undo})
}

// Add is add, for netlab.Cleanup.
func (td *teardown) Add(what string, undo func() error) { td.add(what, undo) }

// final undoes everything, and from then on every step as soon as it is
// added: for an interrupted run, whose tests go on a little meanwhile.
func (td *teardown) final() []error {
	errs := td.run()
	td.mu.Lock()
	td.closed = true
	td.mu.Unlock()
	return errs
}

// run undoes everything added so far and reports the steps that failed.
func (td *teardown) run() []error {
	td.mu.Lock()
	defer td.mu.Unlock()
	var errs []error
	for i := len(td.steps) - 1; i >= 0; i-- {
		if err := td.steps[i].undo(); err != nil {
			errs = append(errs, fmt.Errorf("teardown: %s: %w", td.steps[i].what, err))
		}
	}
	td.steps = nil
	return errs
}

func TestMain(m *testing.M) {
	flag.Parse()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		sig := <-sigs
		fmt.Fprintf(os.Stderr, "e2e: %v: tearing the lab down\n", sig)
		for _, err := range cleanup.final() {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(1)
	}()
	// go test's -timeout ends the process with a panic that runs no cleanup;
	// tear the lab down a little before that happens.
	if f := flag.Lookup("test.timeout"); f != nil {
		if d, err := time.ParseDuration(f.Value.String()); err == nil && d > 20*time.Second {
			time.AfterFunc(d-10*time.Second, func() {
				fmt.Fprintf(os.Stderr, "e2e: close to the %s test timeout: tearing the lab down\n", d)
				for _, err := range cleanup.final() {
					fmt.Fprintln(os.Stderr, err)
				}
				os.Exit(1)
			})
		}
	}
	code := m.Run()
	for _, err := range cleanup.final() {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

// The namespace helpers live in internal/testsupport/netlab, shared with test/alerting;
// these names stay for the lab's files.

func inNS(ns string, f func() error) error     { return netlab.InNS(ns, f) }
func sysctl(ns string, kv ...string) error     { return netlab.Sysctl(ns, kv...) }
func ipBatch(ns string, lines ...string) error { return netlab.IPBatch(ns, lines...) }
func nft(ns, ruleset string) error             { return netlab.NFT(ns, ruleset) }
func addNamespace(name string) error           { return netlab.AddNamespace(&cleanup, name) }

// command is netlab.Command for the lab's test files, which run nft and ip
// through it.
//
//lint:ignore U1000 the lab's test files run commands through it
func command(stdin, name string, args ...string) (string, error) { //nolint:unused // the lab's test files run commands through it
	return netlab.Command(stdin, name, args...)
}

// setResolvConf writes /etc/netns/NS/resolv.conf, which `ip netns exec`
// bind-mounts over /etc/resolv.conf for the programs it starts in ns.
func setResolvConf(ns, content string) error {
	const base = "/etc/netns"
	if _, err := os.Stat(base); errors.Is(err, os.ErrNotExist) {
		if err := os.Mkdir(base, 0o755); err != nil {
			return err
		}
		// Remove /etc/netns again only if it is empty: another tool may
		// have put something there meanwhile.
		cleanup.add("removing "+base, func() error {
			if err := os.Remove(base); err != nil && !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			return nil
		})
	}
	dir := filepath.Join(base, ns)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	cleanup.add("removing "+dir, func() error { return os.RemoveAll(dir) })
	return os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte(content), 0o644)
}

// nstat reads one TcpExt counter (e.g. LockDroppedIcmps) inside ns.
func nstat(ns, counter string) (int64, error) {
	var v int64 = -1
	err := inNS(ns, func() error {
		// /proc/thread-self/net follows this thread's namespace.
		counters, err := netTable("/proc/thread-self/net/netstat", "TcpExt")
		if err != nil {
			return err
		}
		n, ok := counters[counter]
		if !ok {
			return fmt.Errorf("no TcpExt counter %s", counter)
		}
		v = n
		return nil
	})
	return v, err
}

// netTable reads the counters of one table (e.g. "TcpExt", "Icmp") of a
// /proc/net/netstat or /proc/net/snmp file, where each table is a line of
// names and a line of values, both led by the table's name and a colon.
func netTable(path, table string) (map[string]int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	counters := map[string]int64{}
	lines := strings.Split(string(data), "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) == 0 || names[0] != table+":" || len(values) != len(names) {
			continue
		}
		for j, n := range names[1:] {
			var v int64
			if _, err := fmt.Sscan(values[j+1], &v); err != nil {
				return nil, fmt.Errorf("%s: %s %s: %w", path, table, n, err)
			}
			counters[n] = v
		}
	}
	return counters, nil
}
