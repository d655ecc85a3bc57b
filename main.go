// Command tcp_verdict_exporter is a Prometheus exporter that dials TCP
// targets and tells why a port cannot be reached, as telnet would.
package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/tcp-verdict/tcp_verdict_exporter/check"
	"github.com/tcp-verdict/tcp_verdict_exporter/collector"
	"github.com/tcp-verdict/tcp_verdict_exporter/config"
	"github.com/tcp-verdict/tcp_verdict_exporter/conntrack"
	"github.com/tcp-verdict/tcp_verdict_exporter/handler"
	"github.com/tcp-verdict/tcp_verdict_exporter/history"
	"github.com/tcp-verdict/tcp_verdict_exporter/limits"
	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
	"github.com/tcp-verdict/tcp_verdict_exporter/report"
)

const (
	exporterName  = "tcp_verdict_exporter"
	defaultListen = ":9765"
)

//go:embed config.yml
var defaultConfig []byte

// gcPercent is the exporter's default GOGC. Its live heap is a few MB, so the
// default of 100 collects some twenty times a second under load; 400 costs about
// 15 MB more and spares some 5% of the CPU per probe (docs/performance.md, "CPU
// per probe"). The GOGC environment variable still wins.
const gcPercent = 400

func main() {
	versionFromBuildInfo()
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	app := kingpin.New(exporterName, "Probes TCP targets and tells, as telnet would, why a port cannot be reached.")
	configFile := app.Flag("config.file", "Module file; the embedded config.yml when empty.").Default("").String()
	procfs := app.Flag("path.procfs", "procfs mountpoint: where the conntrack table's fill is read (docs/host-evidence.md).").Default(conntrack.DefaultProcfs).String()
	logConfig := &promslog.Config{}
	promslogflag.AddFlags(app, logConfig)
	app.Version(version.Print(exporterName))
	app.HelpFlag.Short('h')

	serveCmd := app.Command("serve", "Run the exporter (the default command).").Default()
	configCheck := serveCmd.Flag("config.check", "Validate the module file, print the result and exit.").Default("false").Bool()
	timeoutOffset := serveCmd.Flag("timeout-offset", "Seconds subtracted from Prometheus's scrape timeout to leave room for the answer.").Default("0.5").Float64()
	enablePprof := serveCmd.Flag("web.enable-pprof", "Serve Go's profiling endpoints under /debug/pprof/.").Default("false").Bool()
	historyLimit := serveCmd.Flag("history.limit", "Recent probes (and recently probed targets) the status page keeps; 0 keeps none.").
		Default(strconv.Itoa(history.DefaultLimit)).Int()
	var limits limitFlags
	serveCmd.Flag("probe.max-in-flight", "Probes running at once; beyond, /probe answers 503 at once. 0: derived from RLIMIT_NOFILE.").Default("0").IntVar(&limits.maxInFlight)
	serveCmd.Flag("probe.trace-max-sockets", "Sockets all path traces (tcp.trace) may hold at once; a trace that does not fit is skipped. 0: derived from RLIMIT_NOFILE.").Default("0").IntVar(&limits.traceSockets)
	serveCmd.Flag("web.max-connections", "HTTP connections held at once; when full, the one idle longest is closed. 0: derived from --probe.max-in-flight.").Default("0").IntVar(&limits.maxConns)
	serveCmd.Flag("web.disable-debug", "Refuse /probe?debug=true with 403: its answer shows what the target sends.").Default("false").BoolVar(&limits.disableDebug)
	webFlags := kingpinflag.AddFlags(serveCmd, defaultListen)
	dnsServer := serveCmd.Flag("dns.server", "Resolve target names through this DNS server (IP, or IP:PORT; port 53 when left out) instead of the system's resolvers: "+
		"probe as that server's clients see the names (docs/configuration.md). /etc/hosts still answers first.").PlaceHolder("IP[:PORT]").String()

	checkCmd := app.Command("check", "Probe targets once, as telnet would, and explain each verdict. "+check.ExitStatusHelp())
	checkModule := checkCmd.Flag("module", "Module to probe with.").Default(config.DefaultModuleName).String()
	checkTimeout := checkCmd.Flag("timeout", "Probe timeout, e.g. 2s; the module's when 0.").Default("0s").Duration()
	checkOutput := checkCmd.Flag("output", "Output format: "+strings.Join(check.Outputs, ", ")+".").Default(check.OutputText).Enum(check.Outputs...)
	checkExpect := checkCmd.Flag("expect", "Expected verdict: classes and the aliases blocked, reachable, comma-separated (docs/expectations.md); wins over the module's.").Default("").String()
	checkTargetsFile := checkCmd.Flag("targets-file", "Prometheus file_sd file (.json, .yml) of more targets; its labels module and expect set each entry's.").Default("").String()
	checkBaseline := checkCmd.Flag("baseline", "An earlier --output=json of this command: also print what changed since (target, before -> after).").Default("").String()
	checkTargets := checkCmd.Arg("target", "host:port to probe; several run concurrently.").Strings()

	cmd, err := app.Parse(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", exporterName, err)
		return 2
	}
	logger := promslog.New(logConfig)

	switch cmd {
	case serveCmd.FullCommand():
		store, err := config.NewStore(*configFile, defaultConfig)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: invalid config: %v\n", exporterName, err)
			return 1
		}
		if *configCheck {
			for _, w := range store.Get().Warnings {
				fmt.Fprintf(os.Stderr, "warning: %s\n", w)
			}
			fmt.Printf("%s: config is valid (%d modules)\n", store.Source(), len(store.Get().Modules))
			return 0
		}
		offset := time.Duration(*timeoutOffset * float64(time.Second))
		resolver, err := dnsResolver(*dnsServer)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: --dns.server: %v\n", exporterName, err)
			return 1
		}
		if resolver != nil {
			logger.Info("resolving target names through --dns.server", "server", *dnsServer)
		}
		return serve(store, logger, webFlags, offset, *enablePprof, history.New(*historyLimit), resolver, limits, conntrack.New(*procfs))
	case checkCmd.FullCommand():
		return check.Main(check.Options{Targets: *checkTargets, Module: *checkModule, ConfigFile: *configFile,
			EmbeddedConfig: defaultConfig, Timeout: *checkTimeout, Output: *checkOutput,
			Expect: *checkExpect, TargetsFile: *checkTargetsFile, Baseline: *checkBaseline, Conntrack: conntrack.New(*procfs)})
	}
	return 2
}

func serve(store *config.Store, logger *slog.Logger, webFlags *web.FlagConfig, offset time.Duration, enablePprof bool, hist *history.History, resolver *net.Resolver, lf limitFlags, table *conntrack.Table) int {
	logger.Info("starting "+exporterName, "version", version.Info(), "build_context", version.BuildContext())
	store.LogLoaded(logger)

	plan := limits.Derive(nofileLimit(), lf.maxInFlight, lf.traceSockets, lf.maxConns)
	logger.Info("limits", "nofile", plan.NofileLimit, "max_in_flight", plan.MaxInFlight,
		"trace_max_sockets", plan.TraceSockets, "max_draining", plan.Draining, "max_connections", plan.MaxConnections, "debug", !lf.disableDebug)
	lim := limits.New(plan)
	for _, w := range store.SetVet(plan.UnfitModules) {
		logger.Warn(w)
	}

	reg := prometheus.NewRegistry()
	exp := collector.NewExporter(reg, store)
	collector.RegisterLimits(reg, lim)
	collector.RegisterConntrack(reg, table)

	mux := http.NewServeMux()
	mux.Handle("/probe", &handler.Probe{Store: store, Exporter: exp, Logger: logger, TimeoutOffset: offset, History: hist, Resolver: resolver,
		Limits: lim, DisableDebug: lf.disableDebug, Conntrack: table})
	mux.Handle("/transcript", &handler.Transcript{History: hist, Disabled: lf.disableDebug})
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.Handle("/-/reload", &handler.Reload{Store: store, Logger: logger})
	mux.HandleFunc("/-/healthy", handler.Healthy)
	mux.HandleFunc("/-/ready", handler.Healthy)
	if enablePprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.Handle("/", &handler.Status{History: hist, Version: report.Version(version.Version, version.GetRevision(), version.BuildDate), Pprof: enablePprof})

	server := newServer(mux, lim.Conns)
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGTERM, os.Interrupt)
	serveErr := make(chan error, 1)
	go func() { serveErr <- listenAndServe(server, lim.Conns, webFlags, logger) }()

	for {
		select {
		case err := <-serveErr:
			if !errors.Is(err, http.ErrServerClosed) {
				logger.Error("serving HTTP", "err", err)
				return 1
			}
			return 0
		case sig := <-signals:
			if sig == syscall.SIGHUP {
				_ = store.Reload(logger) // logged; a bad file keeps the running config
				continue
			}
			logger.Info("shutting down", "signal", sig.String())
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			err := server.Shutdown(ctx)
			cancel()
			if err != nil {
				logger.Error("shutting down", "err", err)
				return 1
			}
			return 0
		}
	}
}

// dnsResolver is the resolver --dns.server asks for: Go's own, sending
// every query to the server; nil (the system's) when the flag is empty.
func dnsResolver(flag string) (*net.Resolver, error) {
	if flag == "" {
		return nil, nil
	}
	server, err := parseDNSServer(flag)
	if err != nil {
		return nil, err
	}
	return prober.ServerResolver(server), nil
}

// parseDNSServer reads an IP address with an optional port (53 when left
// out). A name is refused: it could only be resolved by the resolvers the
// flag replaces.
func parseDNSServer(s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		a, aerr := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
		if aerr != nil {
			return netip.AddrPort{}, fmt.Errorf("%q is not an IP address with an optional port (192.0.2.53, 192.0.2.53:5353, [2001:db8::53]:53)", s)
		}
		ap = netip.AddrPortFrom(a, 53)
	}
	switch a := ap.Addr(); {
	case ap.Port() == 0:
		return netip.AddrPort{}, fmt.Errorf("%q: port 0", s)
	case a.IsUnspecified(), a.IsMulticast():
		return netip.AddrPort{}, fmt.Errorf("%q: not the address of one server", s)
	}
	return ap, nil
}
