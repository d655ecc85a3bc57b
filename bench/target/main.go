// Command target is the loopback TCP target of scripts/loadtest.sh: it
// listens on a 127.0.0.1 address, prints the address it got, accepts in a
// loop and ends each connection as -mode says (see bench/benchtarget).
// It stops on SIGINT or SIGTERM, or by itself after -max-run.
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/bench/benchtarget"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "loopback address to listen on (port 0: a free one)")
	modeName := flag.String("mode", string(benchtarget.Hold), "how to end a connection: hold (wait for the dialler's FIN, then RST: no TIME_WAIT), close (FIN at once) or rst (RST at once)")
	maxRun := flag.Duration("max-run", 5*time.Minute, "stop by itself after this long")
	flag.Parse()

	mode, err := benchtarget.ParseMode(*modeName)
	if err != nil {
		fatal(err)
	}
	ap, err := netip.ParseAddrPort(*listen)
	if err != nil || !ap.Addr().IsLoopback() {
		fatal(fmt.Errorf("-listen %q: give a loopback address such as 127.0.0.1:0", *listen))
	}
	t, err := benchtarget.Listen(*listen, mode)
	if err != nil {
		fatal(err)
	}
	fmt.Println(t.Addr())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-stop:
	case <-time.After(*maxRun):
		fmt.Fprintf(os.Stderr, "target: -max-run %s reached, stopping\n", *maxRun)
	}
	if err := t.Close(); err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "target: %v\n", err)
	os.Exit(2)
}
