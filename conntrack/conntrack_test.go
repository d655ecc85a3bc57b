package conntrack

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// fixture writes a procfs tree holding the two files (a missing value
// leaves its file out).
func fixture(t *testing.T, count, limit string) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "sys", "net", "netfilter")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"nf_conntrack_count": count, "nf_conntrack_max": limit} {
		if v == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestRead(t *testing.T) {
	for _, tc := range []struct {
		name, count, limit string
		want               Fill
		full               bool
		err                error
		anyErr             bool
	}{
		{name: "room", count: "100\n", limit: "262144\n", want: Fill{100, 262144}},
		{name: "full", count: "262144\n", limit: "262144\n", want: Fill{262144, 262144}, full: true},
		{name: "beyond", count: "65537\n", limit: "65536\n", want: Fill{65537, 65536}, full: true},
		{name: "no conntrack", err: ErrNoConntrack},
		{name: "garbage", count: "lots\n", limit: "10\n", anyErr: true},
		{name: "negative", count: "-1\n", limit: "10\n", anyErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := New(fixture(t, tc.count, tc.limit)).Read()
			switch {
			case tc.err != nil || tc.anyErr:
				if err == nil || tc.err != nil && !errors.Is(err, tc.err) {
					t.Fatalf("Read() error %v, want %v", err, tc.err)
				}
				return
			case err != nil:
				t.Fatalf("Read(): %v", err)
			}
			if got != tc.want || got.Full() != tc.full {
				t.Errorf("Read() = %+v (full %v), want %+v (full %v)", got, got.Full(), tc.want, tc.full)
			}
		})
	}
}

// The real /proc of this host reads, or says connection tracking is off.
func TestReadRealProc(t *testing.T) {
	f, err := New(DefaultProcfs).Read()
	if errors.Is(err, ErrNoConntrack) {
		t.Logf("no conntrack here: %v", err)
		return
	}
	if err != nil || f.Max <= 0 {
		t.Fatalf("Read() = %+v, %v", f, err)
	}
	t.Logf("conntrack: %d of %d", f.Count, f.Max)
}
