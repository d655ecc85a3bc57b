package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/config"
	"github.com/tcp-verdict/tcp_verdict_exporter/conntrack"
	"github.com/tcp-verdict/tcp_verdict_exporter/limits"
	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// Output formats.
const (
	OutputText  = "text"
	OutputJSON  = "json"
	OutputJUnit = "junit"
	OutputTAP   = "tap"
)

// Outputs lists the output formats, for --help and errors.
var Outputs = []string{OutputText, OutputJSON, OutputJUnit, OutputTAP}

// maxInFlight bounds the probes that run at once.
const maxInFlight = 32

const errPrefix = "tcp_verdict_exporter check: "

// Options are one run of the command.
type Options struct {
	Targets []string // host:port, as typed
	Module  string   // config.ModuleName resolves it (the default when empty)
	// Expect is the expected verdict (--expect): classes and aliases,
	// comma-separated; it wins over the module's own. It applies to
	// Targets, and to a target file's entries that state none.
	Expect string
	// TargetsFile is a Prometheus file_sd file (JSON or YAML) of more
	// targets, each entry with its module and expect labels
	// (docs/expectations.md).
	TargetsFile string
	// Baseline is an earlier --output=json of the command: what changed
	// since is reported.
	Baseline string

	// Store supplies the modules. When nil, ConfigFile is loaded, or
	// EmbeddedConfig when ConfigFile is empty.
	Store          *config.Store
	ConfigFile     string
	EmbeddedConfig []byte

	Timeout time.Duration // overrides the module's timeout when positive
	Output  string        // one of Outputs; OutputText when empty
	// Conntrack is this host's conntrack table (--path.procfs): a silent
	// probe while it is full is this host's error. nil: not read.
	Conntrack *conntrack.Table

	Stdout, Stderr io.Writer // io.Discard when nil
	// IsTerminal says Stdout is a terminal: only then is a progress line
	// drawn and, unless NoColor, the output coloured.
	IsTerminal bool
	NoColor    bool
}

// plan is validated input: nothing is probed until all of it is good.
type plan struct {
	targets    []plannedTarget
	moduleName string // --module's
	baseline   *jsonReport
	// drains tracks the sessions left draining after their probe, for
	// Run to wait for them before the command exits.
	drains    *limits.Drains
	conntrack prober.Conntrack
}

// plannedTarget is one target with its own module and expectation.
type plannedTarget struct {
	text       string // as given
	target     prober.Target
	moduleName string
	module     config.Module // its Expectation is the one to judge by
}

// texts lists the targets as given.
func (p *plan) texts() []string {
	out := make([]string, len(p.targets))
	for i, t := range p.targets {
		out[i] = t.text
	}
	return out
}

// Run probes every target concurrently, writes the report and returns the
// exit status (see the package comment). Bad input writes one line to
// Stderr and returns ExitBadInput without probing anything.
func Run(ctx context.Context, o Options) int {
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	p, err := o.prepare()
	if err != nil {
		complain(o.Stderr, strings.ReplaceAll(err.Error(), "\n", " "))
		return ExitBadInput
	}
	// Exit would close the sessions still draining, with a RST if data
	// came; a peer that is still silent after a short wait gets none.
	p.drains = limits.NewDrains(limits.DefaultMaxDraining)
	defer p.drains.Wait(250 * time.Millisecond)
	var changes []change
	switch o.Output {
	case OutputJSON, OutputJUnit, OutputTAP:
		results := probeAll(ctx, p, nil)
		if ctx.Err() != nil {
			return interrupted(o.Stderr)
		}
		if p.baseline != nil {
			changes = diff(p.baseline, p, results)
		}
		var err error
		switch o.Output {
		case OutputJSON:
			err = writeJSON(o.Stdout, p, results, changes)
		case OutputJUnit:
			err = writeJUnit(o.Stdout, p, results, changes)
		case OutputTAP:
			err = writeTAP(o.Stdout, p, results, changes)
		}
		if err != nil {
			complain(o.Stderr, "writing "+o.Output+": "+err.Error())
		}
		complainRefused(o.Stderr, results)
		return ExitStatus(results)
	}
	t := newTextWriter(ctx, o, p)
	results := probeAll(ctx, p, t.done)
	t.finish()
	if ctx.Err() != nil {
		return interrupted(o.Stderr)
	}
	t.table(results)
	if p.baseline != nil {
		t.changes(o.Baseline, diff(p.baseline, p, results))
	}
	if t.err != nil {
		complain(o.Stderr, "writing the report: "+t.err.Error())
	}
	complainRefused(o.Stderr, results)
	return ExitStatus(results)
}

// complainRefused writes a line to stderr for each target the target
// policy refused, as for other bad input: a script reading only the exit
// status and stderr learns which target was never probed.
func complainRefused(stderr io.Writer, results []prober.Result) {
	for i := range results {
		if r := results[i].Refusal; r != nil {
			complain(stderr, r.Error())
		}
	}
}

// complain writes one line to stderr. When that fails there is nobody left
// to tell, and the exit status still says what happened, so the error is
// dropped on purpose.
func complain(stderr io.Writer, msg string) {
	_, _ = io.WriteString(stderr, errPrefix+msg+"\n")
}

func interrupted(w io.Writer) int {
	complain(w, "interrupted")
	return ExitInterrupted
}

// prepare validates every input before any probe runs.
func (o *Options) prepare() (*plan, error) {
	switch o.Output {
	case "":
		o.Output = OutputText
	case OutputText, OutputJSON, OutputJUnit, OutputTAP:
	default:
		return nil, fmt.Errorf("--output %q is not %s", o.Output, strings.Join(Outputs, ", "))
	}
	if o.Timeout < 0 {
		return nil, fmt.Errorf("--timeout %s is negative", o.Timeout)
	}
	if o.Timeout > 0 && o.Timeout < config.MinProbeTimeout {
		// Not a probe cut short, which would read as a firewall.
		return nil, fmt.Errorf("--timeout %s is below %s, the least a probe can use", o.Timeout, config.MinProbeTimeout)
	}
	if _, err := verdict.ParseExpectation(o.Expect); err != nil {
		return nil, fmt.Errorf("--%w", err)
	}
	var files []fileTarget
	if o.TargetsFile != "" {
		var err error
		if files, err = readTargetFile(o.TargetsFile); err != nil {
			return nil, err
		}
	}
	if len(o.Targets) == 0 && len(files) == 0 {
		return nil, errors.New("no target: give one or more host:port, or --targets-file")
	}
	store := o.Store
	if store == nil {
		var err error
		if store, err = config.NewStore(o.ConfigFile, o.EmbeddedConfig); err != nil {
			return nil, err
		}
	}
	cfg := store.Get()
	p := &plan{moduleName: config.ModuleName(o.Module)}
	module := func(name string) (config.Module, error) {
		m, err := cfg.Lookup(name)
		if errors.Is(err, config.ErrUnknownModule) {
			return m, fmt.Errorf("%w (%s has: %s)", err, store.Source(), strings.Join(cfg.ModuleNames(), ", "))
		}
		if o.Timeout > 0 {
			m.Timeout = o.Timeout
		}
		return m, err
	}
	// add plans one target; where names it in errors ("" on the command
	// line), expect is its expectation ("" for its module's).
	add := func(text, moduleName, expect, where string) error {
		prefix := ""
		if where != "" {
			prefix = where + ": "
		}
		if text == "" {
			return fmt.Errorf("%sa target is empty: give host:port", prefix)
		}
		t, err := prober.ParseTarget(text)
		if err != nil {
			return fmt.Errorf("%s%w", prefix, err)
		}
		m, err := module(moduleName)
		if err != nil {
			return fmt.Errorf("%s%w", prefix, err)
		}
		if expect != "" {
			if m.Expectation, err = verdict.ParseExpectation(expect); err != nil {
				return fmt.Errorf("%s%w", prefix, err) // --expect's was checked above
			}
		}
		p.targets = append(p.targets, plannedTarget{text: text, target: t, moduleName: moduleName, module: m})
		return nil
	}
	for _, s := range o.Targets {
		if err := add(s, p.moduleName, o.Expect, ""); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		moduleName, expect := p.moduleName, o.Expect
		if f.module != "" {
			moduleName = f.module
		}
		if f.expect != "" {
			expect = f.expect
		}
		if err := add(f.target, moduleName, expect, f.where); err != nil {
			return nil, err
		}
	}
	if o.Baseline != "" {
		b, err := readBaseline(o.Baseline)
		if err != nil {
			return nil, err
		}
		p.baseline = b
	}
	if o.Conntrack != nil {
		p.conntrack = o.Conntrack
	}
	return p, nil
}

// probeAll probes every target, at most maxInFlight at once, and returns the
// results in the targets' order. done, when not nil, is called from this
// goroutine with each result as it arrives, and with nil on every tick of a
// second's tenth while probes run, so a progress line can move.
func probeAll(ctx context.Context, p *plan, done func(i int, r *prober.Result)) []prober.Result {
	type outcome struct {
		i int
		r prober.Result
	}
	results := make([]prober.Result, len(p.targets))
	out := make(chan outcome)
	slots := make(chan struct{}, maxInFlight)
	for i, t := range p.targets {
		go func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			out <- outcome{i, prober.Probe(ctx, t.target, t.module, prober.Options{Trace: true, Drains: p.drains, Conntrack: p.conntrack})}
		}()
	}
	var tick <-chan time.Time
	if done != nil {
		ticker := time.NewTicker(100 * time.Millisecond)
		defer ticker.Stop()
		tick = ticker.C
	}
	for range p.targets {
	wait:
		for {
			select {
			case o := <-out:
				results[o.i] = o.r
				if done != nil {
					done(o.i, &results[o.i])
				}
				break wait
			case <-tick:
				done(-1, nil)
			}
		}
	}
	return results
}

// Main runs the command for a process: standard streams, terminal
// detection, NO_COLOR and TERM=dumb, and Ctrl-C or SIGTERM to interrupt.
func Main(o Options) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o.Stdout, o.Stderr = os.Stdout, os.Stderr
	o.IsTerminal = isTerminal(os.Stdout.Fd()) && os.Getenv("TERM") != "dumb"
	o.NoColor = os.Getenv("NO_COLOR") != ""
	return Run(ctx, o)
}
