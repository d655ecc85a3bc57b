package handler

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/limits"
)

// rawGet sends one keep-alive GET of /-/healthy on conn and reads the
// answer's status.
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

// Issue 18: a request refused before it reaches the handlers (as
// exporter-toolkit's basic auth answers 401) leaves the server reading a
// body its client declared and never sends. Such a connection, busy but
// served by no handler, is closed after a second to let a health
// check in; a connection whose handler runs, however long, never is.
func TestConnLimitEvictsUnserved(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const n = 4
	c := limits.NewConnLimit(n)
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/-/healthy", Healthy)
	mux.HandleFunc("/long", func(w http.ResponseWriter, _ *http.Request) { <-release; Healthy(w, nil) })
	// Outside the tracked handlers, as exporter-toolkit wraps them: no
	// authorization, 401, the body unread.
	auth := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") == "" {
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	srv := &http.Server{Handler: auth(c.Serving(RefuseBodies(mux))), ConnState: c.ConnState, ConnContext: c.ConnContext,
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	go func() { _ = srv.Serve(c.Listener(ln)) }() // ends with Close below
	t.Cleanup(func() { close(release); _ = srv.Close() })
	addr := ln.Addr().String()

	// One connection busy in a long handler, the rest pinned by 401s.
	long, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer long.Close()                                                                     //nolint:errcheck // test cleanup
	fmt.Fprint(long, "GET /long HTTP/1.1\r\nHost: x\r\nAuthorization: Basic eDp5\r\n\r\n") //nolint:errcheck // the read below tells
	for range n - 1 {
		conn, err := net.Dial("tcp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()                                                                        //nolint:errcheck // test cleanup
		fmt.Fprint(conn, "POST /-/healthy HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n") //nolint:errcheck // the server's answer is what the test checks
	}
	time.Sleep(100 * time.Millisecond)
	if got := c.InUse(); got != n {
		t.Fatalf("%d connections held, want %d", got, n)
	}
	for range 2 { // twice: the second finds the first's connection idle
		start := time.Now()
		conn, err := net.DialTimeout("tcp4", addr, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		status, err := rawGet(conn, bufio.NewReader(conn))
		_ = conn.Close()
		if err != nil || status != "401 Unauthorized" {
			t.Fatalf("request behind pinned connections: %q, %v", status, err)
		}
		if took := time.Since(start); took > 1500*time.Millisecond {
			t.Errorf("request behind connections pinned by unread bodies took %s", took)
		}
	}
	// The long handler's connection is still there and answers.
	_ = long.SetDeadline(time.Now().Add(5 * time.Second))
	release <- struct{}{}
	if resp, err := http.ReadResponse(bufio.NewReader(long), nil); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("the connection of a running handler was closed: %v %v", resp, err)
	}
}
