package collector

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tcp-verdict/tcp_verdict_exporter/prober"
)

// TextContentType is the Content-Type of AppendText's output, as
// client_golang's handler announces it (our names need no escaping).
var TextContentType = string(expfmt.NewFormat(expfmt.TypeTextPlain).WithEscapingScheme(model.UnderscoreEscaping))

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	valueEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

// AppendText writes a probe's metrics in the Prometheus text format, byte
// for byte what a registry would serve. /probe uses it instead of a registry
// per request: a registry's gather and gzip cost more CPU than the probe
// itself (docs/performance.md, "CPU per probe").
func AppendText(b *bytes.Buffer, r *prober.Result) {
	ss := sampleSlices.Get().(*[]sample)
	*ss = appendSamples((*ss)[:0], r)
	appendText(b, *ss)
	clear(*ss) // drops the label values' references
	sampleSlices.Put(ss)
}

// sampleSlices recycles AppendText's sample lists: when a burst of probes
// ends together, a list per probe is garbage that no collection has yet
// reclaimed (docs/performance.md, "A burst of probes in flight").
var sampleSlices = sync.Pool{New: func() any { s := make([]sample, 0, 32); return &s }}

func appendText(b *bytes.Buffer, samples []sample) {
	var last *family
	for _, s := range samples {
		if s.fam != last {
			last = s.fam
			b.WriteString("# HELP ")
			b.WriteString(s.fam.name)
			b.WriteByte(' ')
			_, _ = helpEscaper.WriteString(b, s.fam.help) // a bytes.Buffer write cannot fail
			b.WriteString("\n# TYPE ")
			b.WriteString(s.fam.name)
			b.WriteString(" gauge\n")
		}
		b.WriteString(s.fam.name)
		if len(s.values) > 0 {
			b.WriteByte('{')
			for i, v := range s.values {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(s.fam.labels[i])
				b.WriteString(`="`)
				_, _ = valueEscaper.WriteString(b, v) // a bytes.Buffer write cannot fail
				b.WriteByte('"')
			}
			b.WriteByte('}')
		}
		b.WriteByte(' ')
		appendFloat(b, s.value)
		b.WriteByte('\n')
	}
}

// appendFloat formats as the text format does.
func appendFloat(b *bytes.Buffer, f float64) {
	switch {
	case f == 1:
		b.WriteByte('1')
	case f == 0:
		b.WriteByte('0')
	case math.IsNaN(f):
		b.WriteString("NaN")
	case math.IsInf(f, 1):
		b.WriteString("+Inf")
	case math.IsInf(f, -1):
		b.WriteString("-Inf")
	default:
		b.Write(strconv.AppendFloat(b.AvailableBuffer(), f, 'g', -1, 64))
	}
}
