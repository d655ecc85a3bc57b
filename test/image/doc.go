// Package image tests the container image end to end: scripts/image.sh
// builds it offline with buildah, podman runs it (runc, host network, the
// exporter listening on loopback only), and the test probes a loopback
// listener and a closed loopback port through it, then checks the verdicts,
// the stamped version, the non-root user and the image's configuration.
// The package has only tests:
//
//	go test ./test/image/ -v
package image
