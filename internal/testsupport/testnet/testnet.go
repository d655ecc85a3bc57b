// Package testnet holds the loopback listeners the tests probe: one that
// serves each connection with a handler, a silent one, a closed port and
// (on Linux) a listener whose full accept queue drops every SYN. It is test
// tooling; the exporter never imports it.
package testnet

import (
	"net"
	"testing"
)

// Serve starts a listener on network and addr (e.g. "tcp4",
// "127.0.0.1:0") whose accepted connections are each handed to handle in
// their own goroutine; it is closed when the test ends. It returns the
// listener's address.
func Serve(t testing.TB, network, addr string, handle func(*net.TCPConn)) string {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	return Accept(t, ln, handle)
}

// Accept serves ln as Serve does: each accepted connection goes to handle
// in its own goroutine, and ln is closed when the test ends. It returns
// ln's address.
func Accept(t testing.TB, ln net.Listener, handle func(*net.TCPConn)) string {
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go handle(c.(*net.TCPConn))
		}
	}()
	return ln.Addr().String()
}

// KeepOpen is a silent service: it holds the connection, saying nothing,
// until the peer goes away.
func KeepOpen(c *net.TCPConn) {
	buf := make([]byte, 64)
	for {
		if _, err := c.Read(buf); err != nil {
			_ = c.Close()
			return
		}
	}
}

// ClosedPort returns an address on network and addr (e.g. "tcp4",
// "127.0.0.1:0") that nothing listens on (yet): a listener's, closed at
// once. Dialled, it is refused; it is also a free address to listen on.
func ClosedPort(t testing.TB, network, addr string) string {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err) // the port might still be listened on
	}
	return a
}
