// Package packaging tests the release end to end: scripts/release.sh builds
// dist/ offline (the promu-style archives, the .deb and .rpm of both
// architectures, sha256sums.txt), and the test checks each artefact's
// contents, its architecture and its stamped version; then it installs the
// .deb with dpkg, runs the service's command line as its systemd unit
// would (the unit's user, EnvironmentFile and privileges, since systemd is
// not PID 1 here), probes loopback targets through it, reloads it with the
// unit's ExecReload, and purges the package, checking that only what
// Debian policy keeps (the system user) is left. The package has only
// tests:
//
//	go test ./test/packaging/ -v
package packaging
