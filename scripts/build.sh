#!/usr/bin/env bash
# Builds one static, version-stamped binary, as promu does: version,
# revision, branch, build user and date go into prometheus/common/version
# through -ldflags, so that --version, tcp_verdict_exporter_build_info and
# the status page name the same build. scripts/release.sh and
# scripts/image.sh build with it. Usage:
#
#   scripts/build.sh OS ARCH OUTPUT     e.g. scripts/build.sh linux arm64 .build/linux-arm64/tcp_verdict_exporter
#   scripts/build.sh --print-version    the version the builds stamp
#
# The version is $VERSION, else the VERSION file (promu's convention). The
# build date is the commit's (or $SOURCE_DATE_EPOCH), not the clock's, so
# that rebuilding a commit gives the same bytes.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"

git_or() { git "${@:2}" 2>/dev/null || echo "$1"; }
version=${VERSION:-$(cat VERSION)}
if [ "${1:-}" = --print-version ]; then
  echo "$version"
  exit 0
fi
if [ $# -ne 3 ]; then
  echo "usage: scripts/build.sh OS ARCH OUTPUT | --print-version" >&2
  exit 2
fi
os=$1 arch=$2 out=$3

revision=$(git_or unknown rev-parse HEAD)
if [ "$revision" != unknown ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  revision+=-modified # prometheus/common's mark for a dirty tree
fi
branch=$(git_or unknown rev-parse --abbrev-ref HEAD)
build_user="$(id -un)@$(hostname)"
epoch=${SOURCE_DATE_EPOCH:-$(git_or "$(date +%s)" log -1 --format=%ct)}
build_date=$(date -u -d "@$epoch" +%Y%m%d-%H:%M:%S) # promu's format (report.BuildDateLayout)

pkg=github.com/prometheus/common/version
ldflags="-s -w -X $pkg.Version=$version -X $pkg.Revision=$revision -X $pkg.Branch=$branch"
ldflags+=" -X $pkg.BuildUser=$build_user -X $pkg.BuildDate=$build_date"
mkdir -p "$(dirname "$out")"
# netgo,osusergo: Prometheus's tags for static builds (pure-Go resolver and
# user lookup), which also name the build in build_context.
CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath -tags netgo,osusergo -ldflags "$ldflags" -o "$out" .
