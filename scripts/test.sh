#!/usr/bin/env bash
# Runs the whole test suite: unit tests, loopback tests and the
# network-namespace lab. As root on Debian it installs what the lab needs.
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
if ((${#need_pkgs[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  else
    echo "note: ${need_pkgs[*]} missing; tests that need them will skip (run as root on Debian to install)" >&2
  fi
fi

go vet ./...
go test -count=1 -timeout 10m "$@" ./...
(cd deploy && go vet ./... && go test -count=1 -timeout 5m "$@" ./...) # the deploy/ module: manifests and dashboards
