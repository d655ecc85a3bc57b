package main

import (
	"runtime/debug"
	"strings"

	"github.com/prometheus/common/version"
)

// versionFromBuildInfo fills the version that scripts/image.sh stamps with
// -ldflags when the binary was built without it (go build, go install):
// the module's version from the build info. The revision needs no help:
// prometheus/common/version reads vcs.revision itself.
func versionFromBuildInfo() {
	if version.Version != "" {
		return
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		version.Version = moduleVersion(bi)
	}
}

// moduleVersion is the main module's version without its "v", as the
// stamped one is written ("0.3.0"); "(devel)" for a build from a checkout,
// with the VCS revision's date when the build info has it.
func moduleVersion(bi *debug.BuildInfo) string {
	v := strings.TrimPrefix(bi.Main.Version, "v")
	if v != "" && v != "(devel)" {
		return v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.time" {
			return "(devel, " + s.Value + ")"
		}
	}
	return "(devel)"
}
