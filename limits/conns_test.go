package limits

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"
)

// serveLimited runs a health check behind a ConnLimit of n on loopback.
func serveLimited(t *testing.T, n int) (string, *ConnLimit) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := NewConnLimit(n)
	srv := &http.Server{Handler: http.HandlerFunc(healthy), ConnState: c.ConnState, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(c.Listener(ln)) }() // ends with Close below
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String(), c
}

func healthy(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "Healthy") }

// rawGet sends one keep-alive GET on conn and reads the answer's status.
func rawGet(conn net.Conn, r *bufio.Reader) (string, error) {
	if _, err := fmt.Fprint(conn, "GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return "", err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.Status, nil
}

// Clients that hold every connection, idle between requests or silent
// since they connected, do not lock out the next request: the connection
// idle longest is closed to let it in.
func TestConnLimitEvictsIdle(t *testing.T) {
	for _, tc := range []struct {
		name string
		hold func(t *testing.T, conn net.Conn)
		max  time.Duration // for the next request to get through
	}{
		{"idle keep-alive", func(t *testing.T, conn net.Conn) {
			if _, err := rawGet(conn, bufio.NewReader(conn)); err != nil {
				t.Fatal(err)
			}
		}, time.Second},
		{"silent", func(*testing.T, net.Conn) {}, newGrace + time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 4
			addr, c := serveLimited(t, n)
			var held []net.Conn
			for range n {
				conn, err := net.Dial("tcp4", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close() //nolint:errcheck // test cleanup
				tc.hold(t, conn)
				held = append(held, conn)
			}
			time.Sleep(50 * time.Millisecond) // the server sees them idle
			if c.InUse() != n {
				t.Fatalf("%d connections held, want %d", c.InUse(), n)
			}
			start := time.Now()
			conn, err := net.DialTimeout("tcp4", addr, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close() //nolint:errcheck // test cleanup
			_ = conn.SetDeadline(time.Now().Add(tc.max + time.Second))
			status, err := rawGet(conn, bufio.NewReader(conn))
			if err != nil || status != "200 OK" {
				t.Fatalf("request behind %d %s connections: %q, %v", n, tc.name, status, err)
			}
			if took := time.Since(start); took > tc.max {
				t.Errorf("request took %s, want under %s", took, tc.max)
			}
			if got := c.InUse(); got > n {
				t.Errorf("%d connections held, over the limit %d", got, n)
			}
			// The first held connection, the one idle longest, was closed.
			_ = held[0].SetReadDeadline(time.Now().Add(time.Second))
			if _, err := held[0].Read(make([]byte, 1)); err == nil {
				t.Errorf("the oldest idle connection is still open")
			}
		})
	}
}

// A new connection counts as silent only while the client has sent
// nothing: bytes waiting in the kernel, or read by the server, spare it
// however long the server takes to read them under load (the load lab saw
// a client's request lost to an eviction).
func TestSilentConnection(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close() //nolint:errcheck // test cleanup
	client, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close() //nolint:errcheck // test cleanup
	raw, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	conn := &limitedConn{Conn: raw, c: NewConnLimit(1)}
	defer conn.Close() //nolint:errcheck // test cleanup
	if !silent(conn) {
		t.Fatal("a connection whose client sent nothing is not silent")
	}
	fmt.Fprint(client, "GET / HTTP/1.1\r\n") //nolint:errcheck // checked through silent below
	for deadline := time.Now().Add(time.Second); silent(conn) && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if silent(conn) && runtime.GOOS == "linux" { // elsewhere only a read tells
		t.Fatal("a connection with bytes waiting in the kernel counts as silent")
	}
	if _, err := conn.Read(make([]byte, 64)); err != nil {
		t.Fatal(err)
	}
	if silent(conn) {
		t.Error("a connection the server has read from counts as silent")
	}
}
