package handler

import (
	"fmt"
	"net/http"
	"time"
)

// RefuseBodies answers every request that carries a body with 413 and
// closes its connection at once, without reading the body. No endpoint of
// the exporter reads one, and net/http reads up to 256 KB of an unread body
// after the handler returns, to keep the connection: a client that
// declares a body and never sends it pinned the connection, busy and so
// never evicted by ConnLimit, until the read timeout, and enough of them
// locked /metrics and /-/healthy out for half a minute (docs/security.md,
// "Request bodies").
func RefuseBodies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		refuseBody(w)
	})
}

// bodyRefusal is the 413's one-line reason.
const bodyRefusal = "request bodies are not accepted: no endpoint of this exporter reads one\n"

// refuseBody writes the 413 itself on the hijacked connection and closes
// it: closing is what keeps the server from reading the body. Where the
// connection cannot be hijacked (HTTP/2, whose server never reads an
// unread body afterwards), the 413 goes the ordinary way.
func refuseBody(w http.ResponseWriter) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		w.Header().Set("Connection", "close")
		http.Error(w, bodyRefusal, http.StatusRequestEntityTooLarge)
		return
	}
	defer conn.Close()                                                                                       //nolint:errcheck // closing is the point; the client may have gone
	_ = conn.SetWriteDeadline(time.Now().Add(time.Second))                                                   // a client that reads nothing cannot hold it
	fmt.Fprintf(buf, "HTTP/1.1 413 Request Entity Too Large\r\nContent-Type: text/plain; charset=utf-8\r\n"+ //nolint:errcheck // a client gone gets nothing; Flush reports the same
		"Content-Length: %d\r\nConnection: close\r\n\r\n%s", len(bodyRefusal), bodyRefusal)
	_ = buf.Flush() // the client may have gone: the connection closes either way
}
