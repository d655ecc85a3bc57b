#!/usr/bin/env bash
# Runs the whole test suite: unit tests, loopback tests, the
# network-namespace lab and the other end-to-end tests. As root on Debian it
# installs the packages they need.
set -euo pipefail
cd "$(dirname "$0")/.."
# sudo's secure_path usually leaves Go's own folder out.
command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"

need_pkgs=()
command -v nft >/dev/null || need_pkgs+=(nftables)
command -v ip >/dev/null || need_pkgs+=(iproute2)
command -v prlimit >/dev/null || need_pkgs+=(util-linux)
command -v promtool >/dev/null || need_pkgs+=(prometheus)
command -v prometheus-alertmanager >/dev/null || need_pkgs+=(prometheus-alertmanager)
# test/image builds and runs the container image; test/statuspage screenshots
# the status page.
command -v buildah >/dev/null || need_pkgs+=(buildah)
command -v podman >/dev/null || need_pkgs+=(podman)
command -v runc >/dev/null || need_pkgs+=(runc)
[ -f /etc/ssl/certs/ca-certificates.crt ] || need_pkgs+=(ca-certificates)
command -v chromium >/dev/null || need_pkgs+=(chromium)
[ -d /usr/share/fonts/truetype/dejavu ] || need_pkgs+=(fonts-dejavu-core)
# test/packaging reads the .rpm's metadata and verifies the systemd unit.
command -v rpm >/dev/null || need_pkgs+=(rpm)
command -v systemd-analyze >/dev/null || need_pkgs+=(systemd)
if ((${#need_pkgs[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  else
    echo "note: ${need_pkgs[*]} missing; tests that need them will skip (run as root on Debian to install)" >&2
  fi
fi
# test/blackbox runs Debian's blackbox_exporter beside the exporter, unpacked
# into a cache folder, not installed.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  scripts/blackbox-exporter.sh >/dev/null || echo "note: fetching blackbox_exporter failed; test/blackbox will say why" >&2
fi

# nfpm (test/packaging) and helm (deploy/), pinned Go programs: built once
# (helm takes minutes cold), then found in GOBIN.
. scripts/tools.sh
export PATH="$PATH:$(gobin)"
if [ "$(id -u)" = 0 ]; then
  install_go_tools "${go_tools[@]}"
else
  for tool in "${go_tools[@]}"; do
    pkg=${tool%@*}
    command -v "${pkg##*/}" >/dev/null || echo "note: ${pkg##*/} missing; tests that need it will skip (as root this script installs it: go install $tool)" >&2
  done
fi

go vet ./...
# Unit and loopback tests in parallel; then the end-to-end packages under
# test/ one at a time: the load and soak tests of the namespace lab saturate
# both CPUs, and timing assertions elsewhere must not run beside them. A
# failing part does not keep the others from running; the script fails at
# the end, naming the parts that failed.
failed=()
go test -count=1 -timeout 10m "$@" $(go list ./... | grep -v '/test/') || failed+=("unit and loopback tests")
go test -count=1 -timeout 10m -p 1 "$@" ./test/... || failed+=("end-to-end tests (test/)")
(cd deploy && go vet ./... && go test -count=1 -timeout 5m "$@" ./...) || failed+=("deploy/ module") # manifests and dashboards
if ((${#failed[@]})); then
  echo "failed: $(printf '%s; ' "${failed[@]}")" >&2
  exit 1
fi
