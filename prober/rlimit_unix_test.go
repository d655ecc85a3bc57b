//go:build unix

package prober

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/tcp-verdict/tcp_verdict_exporter/config"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// With the descriptor limit exhausted, socket() fails with EMFILE: that is
// the exporter's problem and must never be reported as a network verdict.
func TestOutOfDescriptorsIsLocalError(t *testing.T) {
	if os.Getenv("TVE_EMFILE_CHILD") == "1" {
		addr := os.Getenv("TVE_EMFILE_TARGET")
		var lim syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			fmt.Println("getrlimit:", err)
			os.Exit(3)
		}
		// Use up every descriptor below the limit, then probe.
		lim.Cur = 64
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			fmt.Println("setrlimit:", err)
			os.Exit(3)
		}
		var files []*os.File
		for {
			f, err := os.Open(os.DevNull)
			if err != nil {
				break
			}
			files = append(files, f)
		}
		tg, _ := ParseTarget(addr)
		r := Probe(context.Background(), tg, config.DefaultModule, Options{})
		fmt.Printf("RESULT %s %s\n", r.Class, r.Reason)
		// The hoarded files must stay open through the probe: without this the
		// GC may finalize (close) them and hand the descriptors back.
		runtime.KeepAlive(files)
		os.Exit(0)
	}
	silent := testnet.Serve(t, "tcp4", "127.0.0.1:0", testnet.KeepOpen)
	cmd := exec.Command(os.Args[0], "-test.run=^TestOutOfDescriptorsIsLocalError$")
	cmd.Env = append(os.Environ(), "TVE_EMFILE_CHILD=1", "TVE_EMFILE_TARGET="+silent)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child failed: %v\n%s", err, out)
	}
	want := fmt.Sprintf("RESULT %s %s", verdict.Error, verdict.LocalError)
	if !strings.Contains(string(out), want) {
		t.Fatalf("child output %q lacks %q", out, want)
	}
}
