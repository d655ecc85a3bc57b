//go:build linux

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/exporterproc"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/netlab"
)

// exporter is one exporter process running in a namespace.
type exporter struct {
	*exporterproc.Process
	ns     string
	addr   string // listen address inside ns
	client *http.Client
}

// startExporter runs bin in ns (`ip netns exec`, so that the namespace's
// /etc/netns resolv.conf applies), optionally under `prlimit --nofile`, and
// waits until it answers. Its removal (by PID) is registered for teardown.
func startExporter(ns, bin, configFile, listen string, nofile int) (*exporter, error) {
	return startExporterWithin(ns, bin, configFile, listen, nofile, 10*time.Second)
}

// startExporterWithin is startExporter with a bound on the wait; an
// exporter that does not answer in time is stopped.
func startExporterWithin(ns, bin, configFile, listen string, nofile int, wait time.Duration, flags ...string) (*exporter, error) {
	args := []string{"netns", "exec", ns}
	if nofile > 0 {
		args = append(args, "prlimit", fmt.Sprintf("--nofile=%d:%d", nofile, nofile))
	}
	args = append(args, bin, "--config.file="+configFile, "--web.listen-address="+listen, "--log.level=debug")
	args = append(args, flags...)
	cmd := exec.Command("ip", args...)
	// Go's own resolver reads the namespace's resolv.conf and nothing else:
	// no query can go to a resolver daemon of the host.
	cmd.Env = append(os.Environ(), "GODEBUG=netdns=go")
	e := &exporter{ns: ns, addr: listen}
	var err error
	// Started where PR_SET_PDEATHSIG does not fire early (netlab.Spawn).
	netlab.Spawn(func() { e.Process, err = exporterproc.Start("exporter", cmd) })
	if err != nil {
		return nil, err
	}
	cleanup.add(fmt.Sprintf("stopping exporter PID %d", cmd.Process.Pid), e.stop)

	e.client = &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			Proxy:             nil, // never a proxy: the exporter is inside ns
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				var c net.Conn
				err := inNS(ns, func() error {
					var d net.Dialer
					var err error
					c, err = d.DialContext(ctx, network, addr)
					return err
				})
				return c, err
			},
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := e.WaitReady(ctx, e.client, "http://"+listen+"/-/healthy", 200*time.Millisecond); err != nil {
		return nil, errors.Join(err, e.stop())
	}
	return e, nil
}

func (e *exporter) get(ctx context.Context, path string, timeout time.Duration) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.addr+path, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	// As Prometheus asks; 10s is above every module's timeout, so the
	// module's timeout governs.
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "10")
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := e.client.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = cancelOnClose{resp.Body, cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error { defer c.cancel(); return c.ReadCloser.Close() }

// stop ends the process by its PID: SIGTERM, then SIGKILL.
func (e *exporter) stop() error {
	e.Stop(3 * time.Second)
	return nil
}

// openFiles lists the process's open descriptors.
func (e *exporter) openFiles() ([]string, error) {
	dir := fmt.Sprintf("/proc/%d/fd", e.Cmd.Process.Pid)
	ents, err := os.ReadDir(dir)
	var files []string
	for _, ent := range ents {
		target, _ := os.Readlink(filepath.Join(dir, ent.Name()))
		files = append(files, ent.Name()+"→"+target)
	}
	return files, err
}

// probeResult is what one /probe answer said.
type probeResult struct {
	target, module string
	body           string
	err            error

	classesSet []string // classes whose tcp_verdict is 1
	class      string   // from tcp_verdict_info
	reason     string
	responder  string
	success    float64
	duration   float64
	phases     map[string]float64
}

// probe asks the exporter for /probe?target=...&module=..., as Prometheus does.
func (e *exporter) probe(target, module string) probeResult {
	r := probeResult{target: target, module: module}
	r.body, r.err = e.fetchProbe(target, module, false)
	if r.err == nil {
		r.err = r.parse()
	}
	return r
}

// debugProbe asks the same with debug=true: the telnet transcript and the
// evidence, for failure messages and the verdict table (README.md, "The verdicts").
func (e *exporter) debugProbe(target, module string) string {
	body, err := e.fetchProbe(target, module, true)
	if err != nil {
		return fmt.Sprintf("(debug probe failed: %v)", err)
	}
	return body
}

func (e *exporter) fetchProbe(target, module string, debug bool) (string, error) {
	q := url.Values{"target": {target}, "module": {module}}
	if debug {
		q.Set("debug", "true")
	}
	resp, err := e.get(context.Background(), "/probe?"+q.Encode(), 20*time.Second)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close() //nolint:errcheck // read to the end below; its errors come from ReadAll
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("HTTP %s: %s", resp.Status, body)
	}
	return string(body), nil
}

func (r *probeResult) parse() error {
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(r.body))
	if err != nil {
		return fmt.Errorf("parsing the metrics: %w", err)
	}
	label := func(m *dto.Metric, name string) string {
		for _, l := range m.GetLabel() {
			if l.GetName() == name {
				return l.GetValue()
			}
		}
		return ""
	}
	one := func(name string) (*dto.Metric, error) {
		mf := mfs[name]
		if mf == nil || len(mf.GetMetric()) != 1 {
			return nil, fmt.Errorf("want exactly one %s series", name)
		}
		return mf.GetMetric()[0], nil
	}
	for _, m := range mfs["tcp_verdict"].GetMetric() {
		if m.GetGauge().GetValue() == 1 {
			r.classesSet = append(r.classesSet, label(m, "class"))
		}
	}
	info, err := one("tcp_verdict_info")
	if err != nil {
		return err
	}
	r.class, r.reason, r.responder = label(info, "class"), label(info, "reason"), label(info, "responder")
	m, err := one("probe_success")
	if err != nil {
		return err
	}
	r.success = m.GetGauge().GetValue()
	if m, err = one("probe_duration_seconds"); err != nil {
		return err
	}
	r.duration = m.GetGauge().GetValue()
	r.phases = map[string]float64{}
	for _, m := range mfs["tcp_phase_duration_seconds"].GetMetric() {
		r.phases[label(m, "phase")] = m.GetGauge().GetValue()
	}
	return nil
}
