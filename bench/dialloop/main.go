// Command dialloop is the baseline of scripts/loadtest.sh: -c goroutines
// each run net.Dial + Close against a loopback target for -d, and it prints
// how many dials that made per second, and its own CPU time per dial. It
// dials loopback addresses only, and stops by itself.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/bench/benchtarget"
)

func main() {
	addr := flag.String("addr", "", "loopback target, e.g. 127.0.0.1:40123")
	conc := flag.Int("c", 16, "concurrent diallers")
	dur := flag.Duration("d", 10*time.Second, "how long to dial (at most 5m)")
	flag.Parse()

	ap, err := netip.ParseAddrPort(*addr)
	switch {
	case err != nil || !ap.Addr().IsLoopback():
		fatal(fmt.Errorf("-addr %q: give a loopback host:port such as 127.0.0.1:40123", *addr))
	case *conc < 1 || *conc > 4096:
		fatal(fmt.Errorf("-c %d: give 1 to 4096", *conc))
	case *dur <= 0 || *dur > 5*time.Minute:
		fatal(fmt.Errorf("-d %s: give a duration up to 5m", *dur))
	}

	var dials, errs atomic.Int64
	var firstErr atomic.Value
	cpu0 := benchtarget.ProcessCPU()
	start := time.Now()
	end := start.Add(*dur)
	var wg sync.WaitGroup
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				c, err := net.Dial("tcp4", *addr)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				_ = c.Close() // only the dial is measured
				dials.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	cpu := benchtarget.ProcessCPU() - cpu0
	n := dials.Load()
	perDial := 0.0
	if n > 0 {
		perDial = float64(cpu.Microseconds()) / float64(n)
	}
	fmt.Printf("dials=%d errors=%d seconds=%.2f rate=%.1f cpu_us_per_dial=%.1f\n",
		n, errs.Load(), elapsed, float64(n)/elapsed, perDial)
	if e := firstErr.Load(); e != nil {
		fmt.Fprintf(os.Stderr, "dialloop: first error: %s\n", e)
	}
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "dialloop: %v\n", err)
	os.Exit(2)
}
