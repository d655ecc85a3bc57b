package report

import (
	"strings"
	"time"
)

// BuildDateLayout is how promu, and so scripts/build.sh, stamps
// prometheus/common/version's BuildDate.
const BuildDateLayout = "20060102-15:04:05"

// Version is a build's version line for people: the version, the short
// revision and the build date, e.g. "0.1.0 (revision 180f25a, built
// 2026-12-02 16:38 UTC)". Parts the build does not know (an unstamped
// `go build` has no date, and no revision without VCS info) are left out
// rather than shown as "unknown" or empty.
func Version(version, revision, buildDate string) string {
	if version == "" {
		version = "(devel)"
	}
	var extra []string
	if r := shortRevision(revision); r != "" {
		extra = append(extra, "revision "+r)
	}
	if buildDate != "" {
		if t, err := time.Parse(BuildDateLayout, buildDate); err == nil {
			extra = append(extra, "built "+t.UTC().Format("2006-01-02 15:04 UTC"))
		} else {
			extra = append(extra, "built "+buildDate)
		}
	}
	if len(extra) == 0 {
		return version
	}
	return version + " (" + strings.Join(extra, ", ") + ")"
}

// shortRevision is a git revision cut to 12 hex digits, as git's short
// form is, keeping prometheus/common's "-modified" mark of a dirty tree.
func shortRevision(revision string) string {
	if revision == "" || revision == "unknown" {
		return ""
	}
	rev, modified := strings.CutSuffix(revision, "-modified")
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if modified {
		rev += "-modified"
	}
	return rev
}
