//go:build linux

package netlab

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Cleanup registers undo steps; test/e2e's teardown and TestCleanup are
// two.
type Cleanup interface {
	Add(what string, undo func() error)
}

// NetnsPath is where `ip netns add` puts a namespace's handle.
func NetnsPath(name string) string { return filepath.Join("/var/run/netns", name) }

// InNS runs f on an OS thread that has joined network namespace ns, so that
// the sockets and devices f creates live there. The thread is never given
// back to the Go scheduler: it ends with the goroutine.
func InNS(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread leaves with its namespace
		fd, err := unix.Open(NetnsPath(ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
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

// Sysctl sets /proc/sys/net/... values inside ns; keys use dots.
func Sysctl(ns string, kv ...string) error {
	return InNS(ns, func() error {
		for i := 0; i+1 < len(kv); i += 2 {
			path := "/proc/sys/" + strings.ReplaceAll(kv[i], ".", "/")
			if err := os.WriteFile(path, []byte(kv[i+1]), 0); err != nil {
				return fmt.Errorf("sysctl %s=%s in %s: %w", kv[i], kv[i+1], ns, err)
			}
		}
		return nil
	})
}

// Command runs a program and returns its combined output; the error quotes
// the command line and the output.
func Command(stdin string, name string, args ...string) (string, error) {
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

// IPBatch runs `ip` commands (one per line, without the leading "ip") inside ns.
func IPBatch(ns string, lines ...string) error {
	_, err := Command(strings.Join(lines, "\n")+"\n", "ip", "-n", ns, "-batch", "-")
	return err
}

// NFT loads a ruleset inside ns.
func NFT(ns, ruleset string) error {
	_, err := Command(ruleset, "ip", "netns", "exec", ns, "nft", "-f", "-")
	return err
}

// AddNamespace creates a namespace and registers its removal by name. It
// refuses a name that exists: that namespace is not ours to delete.
func AddNamespace(c Cleanup, name string) error {
	if _, err := os.Stat(NetnsPath(name)); err == nil {
		return fmt.Errorf("namespace %s already exists: refusing to reuse it", name)
	}
	if _, err := Command("", "ip", "netns", "add", name); err != nil {
		return err
	}
	c.Add("deleting namespace "+name, func() error {
		_, err := Command("", "ip", "netns", "delete", name)
		return err
	})
	return nil
}

// Listen opens a listener inside ns.
func Listen(ns, network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := InNS(ns, func() error {
		var err error
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}

// Dialer dials from inside ns: the DialContext of an http.Transport that
// talks to servers in ns.
func Dialer(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := InNS(ns, func() error {
			var d net.Dialer
			var err error
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}
