//go:build !linux

package benchtarget

// ListenQuiet listens on 127.0.0.1 (a free port) in Hold mode. Only the
// Linux version keeps its accept loop free of allocations.
func ListenQuiet() (Server, error) { return Listen("127.0.0.1:0", Hold) }
