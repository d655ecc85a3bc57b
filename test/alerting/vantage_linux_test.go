//go:build linux

package alerting

import (
	"context"
	"crypto/md5"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/exporterproc"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/netlab"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testenv"
	"github.com/tcp-verdict/tcp_verdict_exporter/internal/testsupport/testnet"
	"github.com/tcp-verdict/tcp_verdict_exporter/mixin"
	"github.com/tcp-verdict/tcp_verdict_exporter/mixin/dashboards"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// The vantage lab. Every address exists only inside the namespaces the
// test creates; nothing is configured in the host's own namespace.
//
//	        mon (3 Prometheus, Alertmanager, webhooks, on its loopback)
//	       /   \
//	10.210.1   10.210.2
//	     /       \
//	   va         vb        exporters "dc-a" and "dc-b"
//	    |          |
//	10.210.3    10.210.5
//	    |          |
//	   ra          |        ra drops TCP to portSplit (nftables)
//	    |          |
//	10.210.4       |
//	     \        /
//	        srv             the targets, at 10.210.9.1 (on its loopback)
const (
	targetAddr  = "10.210.9.1"
	portSplit   = 7101 // silent listener; ra drops its SYNs: blocked from dc-a only
	portRefused = 7102 // nothing listens: refused from everywhere
	portOpenA   = 7103 // silent listeners: connected from everywhere
	portOpenB   = 7104
	vantageA    = "dc-a"
	vantageB    = "dc-b"
	exporterA   = "10.210.1.2:9765"
	exporterB   = "10.210.2.2:9765"
	shards      = 2
)

// vantageExporterConfig probes in 0.5 s (the 1 s scrape timeout less the
// exporter's offset), which a silent drop uses up.
const vantageExporterConfig = `modules:
  tcp:
    prober: tcp
    timeout: 2s
    tcp: {preferred_ip_protocol: ip4, ip_protocol_fallback: false, hold: 100ms}
`

// vantageGeneratorConfig gives every verdict alert and the path alert a
// `for` of 5m, read as 5 s by rulesInSeconds: longer than the second or
// two in which the federating Prometheus may hold one vantage's verdict of
// a target and not yet the other's.
const vantageGeneratorConfig = `classes:
  closed_by_peer: {for: 5m}
  refused: {for: 5m}
  firewall: {for: 5m}
  unreachable: {for: 5m}
  dns_error: {for: 5m}
  error: {for: 5m}
path_blocked: {for: 5m}
`

// hashmod is Prometheus's `hashmod` relabelling of one source label: the
// low 64 bits of the value's MD5, big-endian, modulo the modulus.
func hashmod(value string, modulus uint64) uint64 {
	sum := md5.Sum([]byte(value))
	return binary.BigEndian.Uint64(sum[8:]) % modulus
}

// shardConfig is the Prometheus config of one shard: the scrape config of
// docs/vantages.md, "Vantages: probing from several places", for two vantages (a
// static group per exporter, labelled with its vantage), keeping the targets
// whose hashmod is the shard's, so each target is probed from both vantages by
// the same shard; the exporters' own /metrics are sharded by their address.
func shardConfig(shard int, targets []string) string {
	return fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: tcp_verdict
    metrics_path: /probe
    params:
      module: [tcp]
    static_configs:
      - targets: [%[2]s]
        labels: {vantage: %[3]s, __exporter: %[4]q}
      - targets: [%[2]s]
        labels: {vantage: %[5]s, __exporter: %[6]q}
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - source_labels: [__param_module]
        target_label: module
      - source_labels: [__param_target]
        modulus: %[7]d
        target_label: __tmp_shard
        action: hashmod
      - source_labels: [__tmp_shard]
        regex: "%[1]d"
        action: keep
      - source_labels: [__exporter]
        target_label: __address__
  - job_name: tcp_verdict_exporter
    static_configs:
      - targets: [%[4]q]
        labels: {vantage: %[3]s}
      - targets: [%[6]q]
        labels: {vantage: %[5]s}
    relabel_configs:
      - source_labels: [__address__]
        modulus: %[7]d
        target_label: __tmp_shard
        action: hashmod
      - source_labels: [__tmp_shard]
        regex: "%[1]d"
        action: keep
`, shard, quoted(targets), vantageA, exporterA, vantageB, exporterB, shards)
}

// TestVantagesShardedAndFederated runs two exporters in two namespaces of
// a lab, one behind a router that drops the split target, one with a clean
// path; two Prometheus servers sharded with hashmod, each probing its
// share of the targets from both vantages; a third that federates them and
// evaluates the rules, generated with a config of short `for`s; and
// Alertmanager with the example routing. The split target reaches the
// network team once, as TCPVerdictPathBlocked naming the blocked vantage
// and the one where it works; the target refused from everywhere reaches
// the server administrators once, naming both vantages; nothing else
// reaches anyone.
func TestVantagesShardedAndFederated(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedTools(t, "ip", "nft", "prometheus", "prometheus-alertmanager")
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	start := time.Now()
	dir := t.TempDir()
	bin, err := exporterproc.Build(dir)
	if err != nil {
		t.Fatal(err)
	}

	ns := vantageLab(t)
	split := fmt.Sprintf("%s:%d", targetAddr, portSplit)
	refused := fmt.Sprintf("%s:%d", targetAddr, portRefused)
	targets := []string{split, refused, fmt.Sprintf("%s:%d", targetAddr, portOpenA), fmt.Sprintf("%s:%d", targetAddr, portOpenB)}
	for _, port := range []int{portSplit, portOpenA, portOpenB} {
		ln, err := netlab.Listen(ns.srv, "tcp4", fmt.Sprintf("%s:%d", targetAddr, port))
		if err != nil {
			t.Fatal(err)
		}
		testnet.Accept(t, ln, testnet.KeepOpen)
	}
	// Each shard must hold a failing target, so only the federated view
	// has both.
	if hashmod(split, shards) == hashmod(refused, shards) {
		t.Fatalf("%s and %s fall in the same shard; pick other ports", split, refused)
	}

	// The webhooks and Alertmanager, in mon.
	hooks := &webhooks{}
	hookLn, err := netlab.Listen(ns.mon, "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hookSrv := &http.Server{Handler: hooks, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := hookSrv.Serve(hookLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("webhook server: %v", err)
		}
	}()
	t.Cleanup(func() { hookSrv.Close() }) //nolint:errcheck // closing a test server; nothing to report
	writeFile(t, filepath.Join(dir, "alertmanager.yml"), alertmanagerConfig(t, "http://"+hookLn.Addr().String()+"/team/"))
	const amAddr = "127.0.0.1:9093" // mon is a fresh namespace: every port is free
	netlab.Run(ctx, t, ns.mon, "alertmanager", "http://"+amAddr+"/-/ready", "prometheus-alertmanager",
		"--config.file="+filepath.Join(dir, "alertmanager.yml"), "--storage.path="+filepath.Join(dir, "am"),
		"--web.listen-address="+amAddr, "--cluster.listen-address=", "--log.level=warn")

	// The exporters, one per vantage.
	writeFile(t, filepath.Join(dir, "exporter.yml"), vantageExporterConfig)
	for _, e := range []struct{ ns, addr string }{{ns.va, exporterA}, {ns.vb, exporterB}} {
		netlab.Run(ctx, t, e.ns, "exporter in "+e.ns, "http://"+e.addr+"/-/healthy", bin,
			"--config.file="+filepath.Join(dir, "exporter.yml"), "--web.listen-address="+e.addr)
	}

	// The shards, and the Prometheus that federates them and evaluates the
	// rules.
	client := netlab.Client(ns.mon, 5*time.Second)
	var shardAPI []promAPI
	var shardAddrs []string
	for i := range shards {
		addr := fmt.Sprintf("127.0.0.1:%d", 9090+i)
		file := filepath.Join(dir, fmt.Sprintf("shard%d.yml", i))
		writeFile(t, file, shardConfig(i, targets))
		netlab.Run(ctx, t, ns.mon, fmt.Sprintf("prometheus shard %d", i), "http://"+addr+"/-/ready", "prometheus",
			"--config.file="+file, "--storage.tsdb.path="+filepath.Join(dir, fmt.Sprintf("tsdb%d", i)),
			"--web.listen-address="+addr, "--log.level=warn")
		shardAPI = append(shardAPI, promAPI{base: "http://" + addr, client: client})
		shardAddrs = append(shardAddrs, addr)
	}
	cfg, err := mixin.Parse([]byte(vantageGeneratorConfig))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "rules.yml"), rulesInSeconds(t, cfg))
	const globalAddr = "127.0.0.1:9099"
	writeFile(t, filepath.Join(dir, "global.yml"), fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
alerting:
  alertmanagers:
    - static_configs:
        - targets: [%q]
scrape_configs:
  - job_name: federate
    honor_labels: true
    metrics_path: /federate
    params:
      'match[]': ['{job=~"tcp_verdict.*"}']
    static_configs:
      - targets: [%s]
`, filepath.Join(dir, "rules.yml"), amAddr, quoted(shardAddrs)))
	netlab.Run(ctx, t, ns.mon, "prometheus global", "http://"+globalAddr+"/-/ready", "prometheus",
		"--config.file="+filepath.Join(dir, "global.yml"), "--storage.tsdb.path="+filepath.Join(dir, "tsdb-global"),
		"--web.listen-address="+globalAddr, "--log.level=warn")
	global := promAPI{base: "http://" + globalAddr, client: client}
	t.Logf("lab, exporters, 3 Prometheus and Alertmanager ready after %s", time.Since(start).Round(time.Millisecond))

	// Each shard probes its share of the targets, from both vantages, and
	// scrapes its share of the exporters.
	for i, api := range shardAPI {
		var want []string
		for _, target := range targets {
			if hashmod(target, shards) == uint64(i) {
				want = append(want, target+" "+vantageA, target+" "+vantageB)
			}
		}
		for _, e := range []struct{ addr, vantage string }{{exporterA, vantageA}, {exporterB, vantageB}} {
			if hashmod(e.addr, shards) == uint64(i) {
				want = append(want, e.addr+" "+e.vantage)
			}
		}
		sort.Strings(want)
		got, err := waitFor(ctx, func() ([]string, bool) {
			got := api.seriesKeys(ctx, t, `count by (instance, vantage) (tcp_verdict) or count by (instance, vantage) (up{job="tcp_verdict_exporter"})`)
			return got, slices.Equal(got, want)
		})
		if err != nil {
			t.Fatalf("shard %d has (instance vantage) %v, want %v", i, got, want)
		}
		t.Logf("shard %d probes and scrapes: %s", i, strings.Join(want, ", "))
	}

	// The split target reaches the network team as TCPVerdictPathBlocked
	// from dc-a; the refused one the server administrators as
	// TCPVerdictRefused from both vantages.
	network, serverAdmin := verdict.Firewall.Info().Team, verdict.Refused.Info().Team
	blocked, err := waitFor(ctx, func() (received, bool) { return hooks.find(mixin.PathBlocked, split) })
	if err != nil {
		t.Fatalf("%s for %s never reached a receiver (%v); received: %v\n%s", mixin.PathBlocked, split, err, hooks.all(), global.alertsDump(ctx))
	}
	t.Logf("%s: %s reached team %s after %s: %q", split, mixin.PathBlocked, blocked.team, time.Since(start).Round(time.Millisecond), blocked.annotations["description"])
	for k, v := range map[string]string{"team": network, "vantage": vantageA, "class": string(verdict.Firewall), "reason": string(verdict.NoResponse), "job": "tcp_verdict", "module": "tcp"} {
		if blocked.labels[k] != v {
			t.Errorf("%s: label %s=%q, want %q (labels %v)", mixin.PathBlocked, k, blocked.labels[k], v, blocked.labels)
		}
	}
	if blocked.team != network {
		t.Errorf("%s reached /team/%s, want %s", mixin.PathBlocked, blocked.team, network)
	}
	for _, s := range []string{"from vantage " + vantageA + ":", "Connected from vantages " + vantageB + ":"} {
		if !strings.Contains(blocked.annotations["description"], s) {
			t.Errorf("%s: description lacks %q:\n%s", mixin.PathBlocked, s, blocked.annotations["description"])
		}
	}
	refusedName := mixin.AlertName(verdict.Refused)
	everywhere, err := waitFor(ctx, func() (received, bool) { return hooks.find(refusedName, refused) })
	if err != nil {
		t.Fatalf("%s for %s never reached a receiver (%v); received: %v\n%s", refusedName, refused, err, hooks.all(), global.alertsDump(ctx))
	}
	t.Logf("%s: %s reached team %s after %s: %q", refused, refusedName, everywhere.team, time.Since(start).Round(time.Millisecond), everywhere.annotations["description"])
	if everywhere.team != serverAdmin || everywhere.labels["vantage"] != "" || everywhere.labels["responder"] != targetAddr {
		t.Errorf("%s reached /team/%s with labels %v, want team %s, no vantage, responder %s", refusedName, everywhere.team, everywhere.labels, serverAdmin, targetAddr)
	}
	if s := "from vantages " + vantageA + ", " + vantageB + ":"; !strings.Contains(everywhere.annotations["description"], s) {
		t.Errorf("%s: description lacks %q:\n%s", refusedName, s, everywhere.annotations["description"])
	}

	// A few evaluation and group intervals later, each went out once and
	// nothing else did: no per-class alert for the split target, none per
	// vantage for the refused one.
	select {
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	case <-time.After(4 * time.Second):
	}
	var deliveries []string
	for _, a := range hooks.all() {
		deliveries = append(deliveries, fmt.Sprintf("%s %s vantage=%q → %s (%s)", a.labels["alertname"], a.labels["instance"], a.labels["vantage"], a.team, a.status))
	}
	want := []string{
		fmt.Sprintf("%s %s vantage=%q → %s (firing)", mixin.PathBlocked, split, vantageA, network),
		fmt.Sprintf("%s %s vantage=\"\" → %s (firing)", refusedName, refused, serverAdmin),
	}
	sort.Strings(deliveries)
	sort.Strings(want)
	if !slices.Equal(deliveries, want) {
		t.Errorf("webhook deliveries:\n  %s\nwant:\n  %s\n%s", strings.Join(deliveries, "\n  "), strings.Join(want, "\n  "), global.alertsDump(ctx))
	}
	firing := global.seriesKeys(ctx, t, `count by (alertname, instance, vantage) (ALERTS{alertstate="firing"})`)
	wantFiring := []string{mixin.PathBlocked + " " + split + " " + vantageA, refusedName + " " + refused}
	sort.Strings(wantFiring)
	if !slices.Equal(firing, wantFiring) {
		t.Errorf("the federating Prometheus has firing alerts %v, want %v", firing, wantFiring)
	}

	// The dashboard's per-vantage panels answer from the federated view,
	// every variable at All, with a row per target and vantage.
	vars := strings.NewReplacer(`"$job"`, `".*"`, `"$instance"`, `".*"`, `"$module"`, `".*"`, `"$vantage"`, `".*"`,
		"$__rate_interval", "10s", "$__range", "1m")
	panels := 0
	for _, q := range dashboards.Queries(mixin.Default()) {
		if !strings.Contains(q.Panel, "vantage") {
			continue
		}
		var res []json.RawMessage
		if err := global.query(ctx, vars.Replace(q.Expr), &res); err != nil {
			t.Errorf("dashboard panel %q: %v", q.Panel, err)
		} else if len(res) != len(targets)*2 {
			t.Errorf("dashboard panel %q: %d rows, want %d (targets × vantages) for %s", q.Panel, len(res), len(targets)*2, vars.Replace(q.Expr))
		}
		panels++
	}
	if panels != 2 {
		t.Errorf("found %d dashboard panels about vantages, want the matrix and the timeline", panels)
	}
	t.Logf("done after %s", time.Since(start).Round(time.Millisecond))
}

// seriesKeys runs an instant query and returns, sorted, each result's
// label values, in label-name order, joined by spaces.
func (p promAPI) seriesKeys(ctx context.Context, t *testing.T, expr string) []string {
	t.Helper()
	var res []struct {
		Metric map[string]string `json:"metric"`
	}
	if err := p.query(ctx, expr, &res); err != nil {
		t.Logf("%s: %v", expr, err)
		return nil
	}
	var keys []string
	for _, r := range res {
		names := make([]string, 0, len(r.Metric))
		for k := range r.Metric {
			names = append(names, k)
		}
		sort.Strings(names)
		vals := make([]string, len(names))
		for i, k := range names {
			vals[i] = r.Metric[k]
		}
		keys = append(keys, strings.Join(vals, " "))
	}
	sort.Strings(keys)
	return keys
}

// labNamespaces are the vantage lab's namespaces.
type labNamespaces struct{ mon, va, vb, ra, srv string }

// vantageLab builds the network drawn at the top of this file and
// registers its removal (by namespace name) with the test.
func vantageLab(t *testing.T) labNamespaces {
	t.Helper()
	prefix := fmt.Sprintf("tvv%d-", os.Getpid())
	ns := labNamespaces{mon: prefix + "mon", va: prefix + "va", vb: prefix + "vb", ra: prefix + "ra", srv: prefix + "srv"}
	c := netlab.TestCleanup{T: t}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{ns.mon, ns.va, ns.vb, ns.ra, ns.srv} {
		must(netlab.AddNamespace(c, n))
		must(netlab.Sysctl(n, "net.ipv4.conf.all.rp_filter", "0", "net.ipv4.conf.default.rp_filter", "0"))
	}
	must(netlab.Sysctl(ns.ra, "net.ipv4.ip_forward", "1"))
	// A veth pair's ends are named after the namespace at the other end.
	must(netlab.IPBatch(ns.mon, "link add va type veth peer name mon netns "+ns.va, "link add vb type veth peer name mon netns "+ns.vb))
	must(netlab.IPBatch(ns.ra, "link add va type veth peer name ra netns "+ns.va, "link add srv type veth peer name ra netns "+ns.srv))
	must(netlab.IPBatch(ns.srv, "link add vb type veth peer name srv netns "+ns.vb))
	must(netlab.IPBatch(ns.mon, "link set lo up", "link set va up", "link set vb up",
		"addr add 10.210.1.1/24 dev va", "addr add 10.210.2.1/24 dev vb"))
	must(netlab.IPBatch(ns.va, "link set lo up", "link set mon up", "link set ra up",
		"addr add 10.210.1.2/24 dev mon", "addr add 10.210.3.2/24 dev ra", "route add 10.210.9.0/24 via 10.210.3.1"))
	must(netlab.IPBatch(ns.ra, "link set lo up", "link set va up", "link set srv up",
		"addr add 10.210.3.1/24 dev va", "addr add 10.210.4.1/24 dev srv", "route add 10.210.9.0/24 via 10.210.4.2"))
	must(netlab.IPBatch(ns.vb, "link set lo up", "link set mon up", "link set srv up",
		"addr add 10.210.2.2/24 dev mon", "addr add 10.210.5.2/24 dev srv", "route add 10.210.9.0/24 via 10.210.5.1"))
	must(netlab.IPBatch(ns.srv, "link set lo up", "link set ra up", "link set vb up",
		"addr add 10.210.4.2/24 dev ra", "addr add 10.210.5.1/24 dev vb", "addr add "+targetAddr+"/32 dev lo",
		"route add 10.210.3.0/24 via 10.210.4.1"))
	must(netlab.NFT(ns.ra, fmt.Sprintf(`table inet tve {
	chain forward {
		type filter hook forward priority 0; policy accept;
		tcp dport %d drop
	}
}
`, portSplit)))
	return ns
}
