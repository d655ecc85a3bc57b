#!/usr/bin/env bash
# Builds the container image for linux/amd64 and linux/arm64 under one
# manifest list, offline: for each architecture a static binary with its
# version stamped (scripts/build.sh, cross-compiled with GOARCH), staged
# with the host's CA bundle and a passwd/group into .build/linux-ARCH/,
# then the Dockerfile (FROM scratch: nothing to pull, no emulation, since
# nothing runs at build time) with buildah. Usage:
#
#   scripts/image.sh [TAG]
#
# TAG is the image tag (default: the release version, scripts/build.sh
# --print-version), or a whole reference when it holds a '/' or ':'. The
# manifest list is that reference; each architecture's image is also
# tagged REF-ARCH. ARCHS="amd64" builds fewer. With IMAGE_TOOL=docker (or
# when buildah is missing and docker's daemon answers) it builds the host's
# architecture only, as a plain image: a local docker has no manifest lists.
# Progress goes to stderr; the last line on stdout is the reference.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"

name=tcp_verdict_exporter
ca_bundle=/etc/ssl/certs/ca-certificates.crt # Debian's ca-certificates

version=$(scripts/build.sh --print-version)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
tag=${1:-$version}
case $tag in
*/* | *:*) ref=$tag ;;
*) ref=localhost/$name:$tag ;;
esac
archs=${ARCHS:-amd64 arm64}

if [ ! -s "$ca_bundle" ]; then
  echo "image.sh: no CA bundle at $ca_bundle (Debian: apt-get install ca-certificates)" >&2
  exit 1
fi
tool=${IMAGE_TOOL:-}
if [ -z "$tool" ]; then
  if command -v buildah >/dev/null; then
    tool=buildah
  elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    tool=docker
  else
    echo "image.sh: needs buildah (Debian: apt-get install buildah) or a running docker" >&2
    exit 1
  fi
fi
case $tool in
buildah) ;;
docker) archs=$(go env GOARCH) ;;
*)
  echo "image.sh: IMAGE_TOOL must be buildah or docker, not $tool" >&2
  exit 1
  ;;
esac

start=$(date +%s)
if [ "$tool" = buildah ] && buildah manifest exists "$ref" 2>/dev/null; then
  buildah manifest rm "$ref" >/dev/null # a rebuild replaces the list, not adds to it
fi
for arch in $archs; do
  stage=.build/linux-$arch
  rm -rf "$stage"
  mkdir -p "$stage"
  echo "image.sh: building $name $version (linux/$arch, static)" >&2
  scripts/build.sh linux "$arch" "$stage/$name"
  cp "$ca_bundle" "$stage/ca-certificates.crt"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' >"$stage/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$stage/group"
  args=(--build-arg "OS=linux" --build-arg "ARCH=$arch" --build-arg "VERSION=$version" --build-arg "REVISION=$revision"
    -f Dockerfile)
  case $tool in
  buildah)
    echo "image.sh: building $ref-$arch with buildah, into the manifest list $ref" >&2
    buildah bud --pull=false --layers=false --quiet --platform "linux/$arch" --manifest "$ref" -t "$ref-$arch" "${args[@]}" . >&2
    size=$(buildah images --noheading --format '{{.Size}}' "$ref-$arch")
    echo "image.sh: linux/$arch image ${size% }" >&2
    ;;
  docker)
    echo "image.sh: building $ref with docker (linux/$arch only)" >&2
    docker build --pull=false --quiet "${args[@]}" -t "$ref" . >&2
    size="$(docker image inspect --format '{{.Size}}' "$ref") bytes"
    ;;
  esac
done
echo "image.sh: built $ref (${size% }) for $(echo $archs | tr ' ' ,) in $(($(date +%s) - start)) s" >&2
echo "$ref"
