package handler

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/limits"
)

// Issue 18, item 4: clients that declare a request body and never send it
// held every connection, busy, while net/http waited for the body after
// the handler; now each is answered 413 and closed at once, and a health
// check behind them as many as the limit gets through within a second.
func TestRefuseBodiesFreesTheConnection(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	c := limits.NewConnLimit(n)
	mux := http.NewServeMux()
	mux.HandleFunc("/-/healthy", Healthy)
	srv := &http.Server{Handler: RefuseBodies(mux), ConnState: c.ConnState, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	go func() { _ = srv.Serve(c.Listener(ln)) }() // ends with Close below
	t.Cleanup(func() { _ = srv.Close() })
	addr := ln.Addr().String()

	for _, req := range []string{
		"POST /-/healthy HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n",
		"GET /-/healthy HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n",
		"POST /-/healthy HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
	} {
		var held []net.Conn
		start := time.Now()
		for range n {
			conn, err := net.Dial("tcp4", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close() //nolint:errcheck // test cleanup
			if _, err := io.WriteString(conn, req); err != nil {
				t.Fatal(err)
			}
			held = append(held, conn)
		}
		for _, conn := range held {
			_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
			r := bufio.NewReader(conn)
			resp, err := http.ReadResponse(r, nil)
			if err != nil {
				t.Fatalf("%q: %v", req, err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "request bodies are not accepted") {
				t.Errorf("%q: %s %q, want 413", req, resp.Status, body)
			}
			if _, err := r.ReadByte(); err == nil {
				t.Errorf("%q: the connection stays open after the 413", req)
			}
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("%q: %d refusals took %s", req, n, took)
		}
		// The same clients again, holding their connections: a health check
		// gets through at once.
		for range n {
			conn, err := net.Dial("tcp4", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close() //nolint:errcheck // test cleanup
			_, _ = io.WriteString(conn, req)
		}
		start = time.Now()
		conn, err := net.DialTimeout("tcp4", addr, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		status, err := rawGet(conn, bufio.NewReader(conn))
		_ = conn.Close()
		if err != nil || status != "200 OK" {
			t.Fatalf("health check behind %d bodies: %q, %v", n, status, err)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("health check behind %d clients declaring a body took %s, want under a second", n, took)
		}
	}
	// A request without a body is served as before.
	resp, err := http.Get(fmt.Sprintf("http://%s/-/healthy", addr))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET without a body: %v %v", resp, err)
	}
	_ = resp.Body.Close()
}
