#!/usr/bin/env bash
# Builds the release into dist/, offline (docs/install.md):
#
#   dist/tcp_verdict_exporter-VERSION.linux-ARCH.tar.gz   promu-style archives
#   dist/tcp-verdict-exporter_VERSION-1_ARCH.deb           Debian packages (nfpm)
#   dist/tcp-verdict-exporter-VERSION-1.ARCH.rpm           RPM packages (nfpm)
#   dist/sha256sums.txt
#
# for ARCH in amd64 and arm64 (override with ARCHS="amd64 arm64 ..."). Linux
# only: the verdicts rest on what Linux reports (docs/kernel-evidence.md);
# elsewhere the exporter builds from source but sees errno alone and
# cannot trace the path. Needs nfpm (.ci/run installs the pinned one:
# go install github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0). Usage:
#
#   scripts/release.sh [DIST]      DIST defaults to dist
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"
gobin=$(go env GOBIN)
export PATH="$PATH:${gobin:-$(go env GOPATH)/bin}"

name=tcp_verdict_exporter
dist=${1:-dist}
archs=${ARCHS:-amd64 arm64}
# What ships beside the binary, from where it lives in this repository.
readme=README.md
install_doc=docs/install.md
config=config.yml
rules=mixin/alerts/tcp_verdict.rules.yml
dashboards=dashboards

if ! command -v nfpm >/dev/null; then
  echo "release.sh: needs nfpm: go install github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0" >&2
  exit 1
fi
version=$(scripts/build.sh --print-version)
# Reproducible: archive entries sorted, owned by root, and every file of
# the archives and packages dated at the commit (nfpm reads SOURCE_DATE_EPOCH).
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

start=$(date +%s)
rm -rf "$dist"
mkdir -p "$dist"
for arch in $archs; do
  base=$name-$version.linux-$arch
  stage=.build/release/$base
  rm -rf "$stage"
  mkdir -p "$stage/dashboards"
  echo "release.sh: building $base" >&2
  scripts/build.sh linux "$arch" "$stage/$name"
  cp "$readme" "$install_doc" "$config" "$rules" "$stage/"
  cp "$dashboards"/*.json "$stage/dashboards/"
  find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} + # nfpm takes a folder's files' times as they are
  tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
    -C .build/release -cf - "$base" | gzip -n >"$dist/$base.tar.gz"
  # nfpm reads the staged files from a fixed place (packaging/nfpm.yaml).
  rm -rf .build/package
  cp -a "$stage" .build/package
  for packager in deb rpm; do
    ARCH=$arch VERSION=$version nfpm package --config packaging/nfpm.yaml \
      --packager "$packager" --target "$dist/" >/dev/null
  done
done
(cd "$dist" && sha256sum -- *.tar.gz *.deb *.rpm >sha256sums.txt)
echo "release.sh: $dist/ in $(($(date +%s) - start)) s:" >&2
ls -l "$dist" >&2
