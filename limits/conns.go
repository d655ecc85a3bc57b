package limits

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// ConnLimit bounds the HTTP connections the exporter holds, so that idle or
// silent clients cannot take the descriptors probes need (docs/security.md,
// "Load limits, HTTP hardening and debug"). When every connection is taken, a
// new one is let in by closing the connection idle longest: a keep-alive
// connection between requests, or one that has sent nothing since it
// connected (for at least newGrace), or, when the handlers are tracked
// (Serving), one busy with a request that no handler serves (for at least
// unservedGrace: the server reading a body after its handler, or a request
// refused before it reached the handlers). Only connections whose request a
// handler serves are never closed; as probes are bounded (Set.Slots) and
// every other request is short, one frees soon, and /metrics and /-/healthy
// get through behind a flood of /probe.
//
// The listener accepts a connection before it looks for a slot, so that a
// new client never waits in the kernel's queue behind a flood of silent
// ones (docs/security.md, "Silent connections and 503s at once"): the one
// connection it holds while it waits is the limit's only excess.
type ConnLimit struct {
	conns Budget
	freed chan struct{} // a token when a connection closes or turns idle

	mu      sync.Mutex
	idle    map[net.Conn]idleConn // the connections that may be closed, by the conn http.Server reports
	serving map[net.Conn]int      // handlers running on each connection
	tracked bool                  // Serving wraps the handlers: a busy connection without one may be closed
}

type idleConn struct {
	since time.Time
	grace time.Duration // how long it is spared: newGrace, 0 or unservedGrace
}

// unservedGrace is how long a connection busy with a request that no
// handler serves is spared: the time to check basic auth and answer.
const unservedGrace = time.Second

// newGrace is how long a new connection may stay silent before it can be
// closed to let another in: long enough for the server to read a request
// that came with the connection, short enough that silent connections
// cannot queue faster than they are closed (the limit per newGrace, 570 a
// second for 57 connections). ReadHeaderTimeout (server.go) ends a silent
// connection anyway.
const newGrace = 100 * time.Millisecond

// NewConnLimit allows n connections at once.
func NewConnLimit(n int) *ConnLimit {
	return &ConnLimit{conns: Budget{max: int64(max(n, 0))}, freed: make(chan struct{}, 1), idle: map[net.Conn]idleConn{}, serving: map[net.Conn]int{}}
}

// InUse is the number of connections held now.
func (c *ConnLimit) InUse() int { return c.conns.InUse() }

// Max is the limit on the connections held at once.
func (c *ConnLimit) Max() int { return c.conns.Max() }

// ConnState is the http.Server's ConnState hook: it tracks which
// connections may be closed to let another in.
func (c *ConnLimit) ConnState(conn net.Conn, st http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch st {
	case http.StateNew:
		c.idle[conn] = idleConn{time.Now(), newGrace}
	case http.StateIdle:
		c.idle[conn] = idleConn{time.Now(), 0}
		c.wake() // an accept waiting for a slot may close it now
	case http.StateActive:
		if c.tracked && c.serving[conn] == 0 {
			c.idle[conn] = idleConn{time.Now(), unservedGrace}
		} else {
			delete(c.idle, conn)
		}
	default: // hijacked or closed
		delete(c.idle, conn)
		delete(c.serving, conn)
	}
}

// connKey is the request context's key of its connection (ConnContext).
type connKey struct{}

// ConnContext is the http.Server's ConnContext hook: it gives each request
// its connection, for Serving.
func (c *ConnLimit) ConnContext(ctx context.Context, conn net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, conn)
}

// Serving wraps the handlers so that ConnLimit knows which busy
// connections a handler serves (never closed) and which it does not (closed
// after unservedGrace when a slot is needed). The server needs ConnContext
// too.
func (c *ConnLimit) Serving(next http.Handler) http.Handler {
	c.mu.Lock()
	c.tracked = true
	c.mu.Unlock()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _ := r.Context().Value(connKey{}).(net.Conn)
		if conn == nil {
			next.ServeHTTP(w, r)
			return
		}
		c.mu.Lock()
		c.serving[conn]++
		delete(c.idle, conn)
		c.mu.Unlock()
		defer func() {
			c.mu.Lock()
			n, open := c.serving[conn]
			if !open { // hijacked or closed meanwhile
				c.mu.Unlock()
				return
			}
			if c.serving[conn] = n - 1; n <= 1 {
				delete(c.serving, conn)
				// The server may go on reading the request's body: the
				// connection is unserved until it turns idle or closes.
				c.idle[conn] = idleConn{time.Now(), unservedGrace}
			}
			c.mu.Unlock()
		}()
		next.ServeHTTP(w, r)
	})
}

// evict closes the connection idle longest, if any may be closed.
func (c *ConnLimit) evict() bool {
	c.mu.Lock()
	var oldest net.Conn
	var since time.Time
	now := time.Now()
	for conn, ic := range c.idle {
		if now.Sub(ic.since) < ic.grace {
			continue
		}
		if ic.grace == newGrace && !silent(conn) {
			// Its request came: the server is reading it, or will.
			// Spared as a connection busy with a request is.
			if now.Sub(ic.since) < unservedGrace {
				continue
			}
		}
		if oldest == nil || ic.since.Before(since) {
			oldest, since = conn, ic.since
		}
	}
	if oldest != nil {
		delete(c.idle, oldest)
	}
	c.mu.Unlock()
	if oldest == nil {
		return false
	}
	_ = oldest.Close() // the server sees it end; its slot is released below
	return true
}

// Listener wraps l so that it accepts only while a connection slot is
// free (evicting an idle connection if it must).
func (c *ConnLimit) Listener(l net.Listener) net.Listener {
	return &limitListener{Listener: l, c: c, closed: make(chan struct{})}
}

type limitListener struct {
	net.Listener
	c         *ConnLimit
	closeOnce sync.Once
	closed    chan struct{}
}

// waitTick bounds the wait for a slot between two eviction attempts: a
// fresh connection becomes evictable after newGrace without any event.
const waitTick = newGrace / 4

// Accept takes the next connection from the kernel, then a slot for it,
// closing the connection idle longest if it must, or waiting until one
// closes or turns idle.
func (l *limitListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	for !l.c.conns.TryTake(1) {
		if l.c.evict() {
			continue // its Close frees the slot
		}
		select {
		case <-l.closed:
			_ = conn.Close() // never served: nothing to report
			return nil, net.ErrClosed
		case <-l.c.freed:
		case <-time.After(waitTick):
		}
	}
	return &limitedConn{Conn: conn, c: l.c}, nil
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// limitedConn gives its slot back when closed, once, and remembers
// whether the server has read anything from it.
type limitedConn struct {
	net.Conn
	c    *ConnLimit
	once sync.Once
	read atomic.Bool
}

func (c *limitedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.read.Store(true)
	}
	return n, err
}

// silent reports whether conn, as http.Server reports it (a TLS
// connection wraps ours), has neither been read from nor has bytes waiting
// in the kernel: a client that has sent its request is never taken for a
// silent one, however late the server reads it under load.
func silent(conn net.Conn) bool {
	for {
		switch c := conn.(type) {
		case *limitedConn:
			return !c.read.Load() && !pendingBytes(c.Conn)
		case interface{ NetConn() net.Conn }:
			conn = c.NetConn()
		default:
			return true
		}
	}
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.c.conns.Give(1)
		c.c.wake()
	})
	return err
}

// wake tells an accept waiting for a slot that one may be free or
// evictable.
func (c *ConnLimit) wake() {
	select {
	case c.freed <- struct{}{}:
	default:
	}
}
