# Go programs the tests run, pinned; sourced by .ci/run and scripts/test.sh.
# nfpm builds the .deb and .rpm (scripts/release.sh, test/packaging); helm
# lints and renders the chart (deploy/). Both build from source through the
# Go module proxy (helm: about 5 minutes of CPU cold), so an install is
# skipped when the binary of that version is already in GOBIN.
go_tools=(
  github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0
  helm.sh/helm/v4/cmd/helm@v4.3.2
)

# gobin is where go install puts programs.
gobin() {
  local dir
  dir=$(go env GOBIN)
  echo "${dir:-$(go env GOPATH)/bin}"
}

# install_go_tools PKG@VERSION...: go install each one whose binary in GOBIN
# is not that version.
install_go_tools() {
  local tool pkg version bin dir
  dir=$(gobin)
  for tool in "$@"; do
    pkg=${tool%@*} version=${tool#*@}
    bin="$dir/${pkg##*/}"
    if [ "$(go version -m "$bin" 2>/dev/null | awk '$1 == "mod" {print $3}')" != "$version" ]; then
      go install "$tool" || return 1
    fi
  done
}
