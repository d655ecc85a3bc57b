//go:build linux

package e2e

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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

// netnsPath is where `ip netns add` puts a namespace's handle.
func netnsPath(name string) string { return filepath.Join("/var/run/netns", name) }

// inNS runs f on an OS thread that has joined network namespace ns, so that
// the sockets and devices f creates live there. The thread is never given
// back to the Go scheduler: it ends with the goroutine.
func inNS(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread leaves with its namespace
		fd, err := unix.Open(netnsPath(ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("opening namespace %s: %w", ns, err)
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		_ = unix.Close(fd) // read-only; Setns's error is the one that matters
		if err != nil {
			errc <- fmt.Errorf("joining namespace %s: %w", ns, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// sysctl sets /proc/sys/net/... values inside ns; keys use dots.
func sysctl(ns string, kv ...string) error {
	return inNS(ns, func() error {
		for i := 0; i+1 < len(kv); i += 2 {
			path := "/proc/sys/" + strings.ReplaceAll(kv[i], ".", "/")
			if err := os.WriteFile(path, []byte(kv[i+1]), 0); err != nil {
				return fmt.Errorf("sysctl %s=%s in %s: %w", kv[i], kv[i+1], ns, err)
			}
		}
		return nil
	})
}

// command runs a program and returns its combined output; the error quotes
// the command line and the output.
func command(stdin string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w\n%s%s", name, strings.Join(args, " "), err, stdinNote(stdin), out.String())
	}
	return out.String(), nil
}

func stdinNote(stdin string) string {
	if stdin == "" {
		return ""
	}
	return "input:\n" + stdin + "\noutput:\n"
}

// ipBatch runs `ip` commands (one per line, without the leading "ip") inside ns.
func ipBatch(ns string, lines ...string) error {
	_, err := command(strings.Join(lines, "\n")+"\n", "ip", "-n", ns, "-batch", "-")
	return err
}

// nft loads a ruleset inside ns.
func nft(ns, ruleset string) error {
	_, err := command(ruleset, "ip", "netns", "exec", ns, "nft", "-f", "-")
	return err
}

// addNamespace creates a namespace and registers its removal by name.
func addNamespace(name string) error {
	if _, err := os.Stat(netnsPath(name)); err == nil {
		return fmt.Errorf("namespace %s already exists: refusing to reuse it", name)
	}
	if _, err := command("", "ip", "netns", "add", name); err != nil {
		return err
	}
	cleanup.add("deleting namespace "+name, func() error {
		_, err := command("", "ip", "netns", "delete", name)
		return err
	})
	return nil
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
