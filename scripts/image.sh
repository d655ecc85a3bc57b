#!/usr/bin/env bash
# Builds the container image, offline: a static binary with its version
# stamped, staged with the host's CA bundle and a passwd/group into
# .build/OS-ARCH/, then the Dockerfile (FROM scratch, nothing to pull) with
# buildah, or docker when its daemon answers. Usage:
#
#   scripts/image.sh [TAG]
#
# TAG is the image tag (default: the git version), or a whole reference when
# it holds a '/' or ':'. Progress goes to stderr; the last line on stdout is
# the image reference. Set IMAGE_TOOL=buildah|docker to choose the builder.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"

name=tcp_verdict_exporter
ca_bundle=/etc/ssl/certs/ca-certificates.crt # Debian's ca-certificates

git_or() { git "${@:2}" 2>/dev/null || echo "$1"; }
version=${VERSION:-$(git_or dev describe --tags --always --dirty)}
revision=$(git_or unknown rev-parse HEAD)
branch=$(git_or unknown rev-parse --abbrev-ref HEAD)
build_user="$(id -un)@$(hostname)"
build_date=$(date -u +%Y%m%d-%H:%M:%S) # promu's format

tag=${1:-$version}
case $tag in
*/* | *:*) ref=$tag ;;
*) ref=localhost/$name:$tag ;;
esac

os=$(go env GOOS)
arch=$(go env GOARCH)
if [ "$os" != linux ]; then
  echo "image.sh: the image holds a Linux binary; GOOS is $os" >&2
  exit 1
fi
if [ ! -s "$ca_bundle" ]; then
  echo "image.sh: no CA bundle at $ca_bundle (Debian: apt-get install ca-certificates)" >&2
  exit 1
fi

tool=${IMAGE_TOOL:-}
if [ -z "$tool" ]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    tool=docker
  elif command -v buildah >/dev/null; then
    tool=buildah
  else
    echo "image.sh: needs buildah (Debian: apt-get install buildah) or a running docker" >&2
    exit 1
  fi
fi

start=$(date +%s)
stage=.build/$os-$arch
rm -rf "$stage"
mkdir -p "$stage"
pkg=github.com/prometheus/common/version
ldflags="-s -w -X $pkg.Version=$version -X $pkg.Revision=$revision -X $pkg.Branch=$branch"
ldflags+=" -X $pkg.BuildUser=$build_user -X $pkg.BuildDate=$build_date"
echo "image.sh: building $name $version ($os/$arch, static)" >&2
# netgo,osusergo: Prometheus's tags for static builds (pure-Go resolver and
# user lookup), which also name the build in build_context.
CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath -tags netgo,osusergo -ldflags "$ldflags" -o "$stage/$name" .
cp "$ca_bundle" "$stage/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' >"$stage/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$stage/group"

args=(--build-arg "OS=$os" --build-arg "ARCH=$arch" --build-arg "VERSION=$version" --build-arg "REVISION=$revision"
  -f Dockerfile -t "$ref" .)
echo "image.sh: building $ref with $tool" >&2
case $tool in
buildah) buildah bud --pull=false --layers=false --quiet "${args[@]}" >&2 ;;
docker) docker build --pull=false --quiet "${args[@]}" >&2 ;;
*)
  echo "image.sh: IMAGE_TOOL must be buildah or docker, not $tool" >&2
  exit 1
  ;;
esac
case $tool in
buildah) size=$(buildah images --noheading --format '{{.Size}}' "$ref") ;;
docker) size="$(docker image inspect --format '{{.Size}}' "$ref") bytes" ;;
esac
echo "image.sh: built $ref (${size% }) in $(($(date +%s) - start)) s" >&2
echo "$ref"
