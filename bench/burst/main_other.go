//go:build !linux

// Command burst needs Linux: network namespaces and nftables build its
// network (main.go).
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "burst: Linux only (network namespaces, nftables)")
	os.Exit(2)
}
