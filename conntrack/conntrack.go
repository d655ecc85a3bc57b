// Package conntrack reads how full this host's connection tracking table
// is (nf_conntrack_count against nf_conntrack_max). Every probe leaves an
// entry there; when the table is full the kernel drops new connections'
// SYNs before they leave, and a silent verdict would blame the network for
// this host's own failure (docs/host-evidence.md, "A full conntrack table").
// It reads /proc through a root given by --path.procfs, as node_exporter
// does, so tests can point it at fixture files.
package conntrack

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// DefaultProcfs is where procfs is mounted unless --path.procfs says.
const DefaultProcfs = "/proc"

// Table reads one network namespace's table: the exporter's own, as its
// /proc shows it.
type Table struct {
	dir string
}

// New reads the table under procfs (a procfs mount point, e.g. "/proc").
func New(procfs string) *Table {
	return &Table{dir: filepath.Join(procfs, "sys", "net", "netfilter")}
}

// Fill is the table's size: Count entries of at most Max.
type Fill struct {
	Count, Max int
}

// Full reports whether no new connection fits.
func (f Fill) Full() bool { return f.Max > 0 && f.Count >= f.Max }

// Ratio is Count over Max; 0 when Max is unknown.
func (f Fill) Ratio() float64 {
	if f.Max <= 0 {
		return 0
	}
	return float64(f.Count) / float64(f.Max)
}

// ErrNoConntrack says the files do not exist: connection tracking is not
// loaded in this namespace, so it drops nothing.
var ErrNoConntrack = errors.New("no connection tracking (nf_conntrack is not loaded)")

// Read reads both files. Without connection tracking it returns
// ErrNoConntrack; a file that exists but cannot be read or parsed is an
// error naming it.
func (t *Table) Read() (Fill, error) {
	count, err := t.read("nf_conntrack_count")
	if err != nil {
		return Fill{}, err
	}
	limit, err := t.read("nf_conntrack_max")
	if err != nil {
		return Fill{}, err
	}
	return Fill{Count: count, Max: limit}, nil
}

func (t *Table) read(name string) (int, error) {
	path := filepath.Join(t.dir, name)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, ErrNoConntrack
	}
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", path, err)
	}
	n, err := strconv.Atoi(string(bytes.TrimSpace(data)))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("reading %s: %q is not a count", path, bytes.TrimSpace(data))
	}
	return n, nil
}
