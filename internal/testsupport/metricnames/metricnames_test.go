package metricnames

import (
	"reflect"
	"testing"
)

func TestInPromQL(t *testing.T) {
	for expr, want := range map[string][]string{
		`(tcp_verdict{class="firewall"} == 1) * ignoring (reason, responder) group_left (reason, responder) tcp_verdict_info{class="firewall"}`: {"tcp_verdict", "tcp_verdict_info"},
		`sum by (job, instance) (rate(tcp_verdict_exporter_probes_total{module=~"$module"}[$__rate_interval])) > 0.5`:                           {"tcp_verdict_exporter_probes_total"},
		`(up == 0) and on (job) present_over_time(tcp_verdict_exporter_build_info[1h])`:                                                         {"up", "tcp_verdict_exporter_build_info"},
		`absent(tcp_verdict)`: {"tcp_verdict"},
		`avg_over_time(probe_success{instance=~"$instance", x="a}b"}[$__range]) * 100`: {"probe_success"},
		`label_replace(up, "a", "$1", "b", "(.*)") or vector(1e3)`:                     {"up"},
	} {
		if got := InPromQL(expr); !reflect.DeepEqual(got, want) {
			t.Errorf("InPromQL(%s) = %q, want %q", expr, got, want)
		}
	}
}

// The collectors emit the metrics docs/metrics.md documents.
func TestEmitted(t *testing.T) {
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"tcp_verdict", "tcp_verdict_info", "tcp_phase_duration_seconds", "probe_success",
		"probe_duration_seconds", "tcp_verdict_exporter_probes_total", "tcp_verdict_exporter_probes_rejected_total",
		"tcp_verdict_exporter_config_last_reload_successful"} {
		if !all[n] {
			t.Errorf("%s is not emitted", n)
		}
	}
}
