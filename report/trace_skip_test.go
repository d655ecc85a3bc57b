package report

import (
	"errors"
	"testing"

	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
	"github.com/tcp-verdict/tcp_verdict_exporter/verdict"
)

// A due trace that could not run says so where the hops would have been.
func TestRowsSayTraceSkipped(t *testing.T) {
	r := prober.Result{Class: verdict.Firewall, Reason: verdict.NoResponse,
		TraceSkipped: prober.TraceNoDescriptors, TraceErr: errors.New("path trace could not run: socket: too many open files")}
	var path string
	Rows(&r, func(k, v string) {
		if k == "path" {
			path = v
		}
	})
	if path != r.TraceErr.Error() {
		t.Errorf("path row %q, want %q", path, r.TraceErr.Error())
	}
}
