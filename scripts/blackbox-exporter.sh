#!/usr/bin/env bash
# Fetches Debian's blackbox_exporter (package prometheus-blackbox-exporter)
# without installing it: `apt-get download` and `dpkg -x` into a cache
# folder, reused when already there, and prints the binary's path.
# test/blackbox runs it beside the exporter; scripts/test.sh fetches it as
# root. Needs root (apt) on Debian.
set -euo pipefail
dir=${TVE_BLACKBOX_DIR:-/var/cache/tve/blackbox}
bin=$dir/root/usr/bin/prometheus-blackbox-exporter
if [ ! -x "$bin" ]; then
  mkdir -p "$dir"
  cd "$dir"
  rm -rf ./*.deb root.tmp
  # _apt cannot write here: download as root, without apt's sandbox.
  download() { apt-get download -q -o APT::Sandbox::User=root prometheus-blackbox-exporter; }
  download >/dev/null 2>&1 || { apt-get update -qq && download >/dev/null; }
  dpkg -x prometheus-blackbox-exporter_*.deb root.tmp
  mv root.tmp root
fi
echo "$bin"
