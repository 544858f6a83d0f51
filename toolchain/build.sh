#!/usr/bin/env bash
# Builds the project's pinned toolchain (Pulumi engine and providers, Kubernetes,
# etcd, kwok, buildkit, buildx, metrics-server) from Go modules, because release
# downloads and container registries are unreachable here; only the Go module proxy is.
#
#   toolchain/build.sh [NAME...]   build NAMEs (default: all), link them into .toolchain/bin
#   toolchain/build.sh --check     exit 0 only if every binary is built at its pinned version
#   toolchain/build.sh --list      print "NAME VERSION" for every binary
#
# Each binary lands in a cache keyed by name and version outside the clone,
# ${XDG_CACHE_HOME:-$HOME/.cache}/ml-platform/toolchain/<name>-<version>/, so a second
# run, and CI's fresh clone on the same machine, only relink. Versions: versions.env.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
# shellcheck source=versions.env
source "$here/versions.env"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/ml-platform/toolchain"
bin="$repo/.toolchain/bin"
share="$repo/.toolchain/share"

# Build order: what gates the next work first (engine, provider, control plane, kwok).
ALL=(pulumi pulumi-resource-kubernetes etcd kube-apiserver kube-controller-manager
  kube-scheduler kubectl kwok pulumi-resource-docker-build buildkitd buildctl
  docker-buildx kubelet kube-proxy metrics-server)

version_of() {
  case $1 in
    pulumi) echo "v$PULUMI_VERSION" ;;
    pulumi-resource-kubernetes) echo "v$PULUMI_KUBERNETES_VERSION" ;;
    pulumi-resource-docker-build) echo "v$PULUMI_DOCKER_BUILD_VERSION" ;;
    etcd) echo "v$ETCD_VERSION" ;;
    kube-*|kubectl|kubelet) echo "v$KUBERNETES_VERSION" ;;
    kwok) echo "v$KWOK_VERSION" ;;
    buildkitd|buildctl) echo "v$BUILDKIT_VERSION" ;;
    docker-buildx) echo "v$BUILDX_VERSION" ;;
    metrics-server) echo "v$METRICS_SERVER_VERSION" ;;
    *) echo "toolchain: unknown binary '$1' (known: ${ALL[*]})" >&2; return 1 ;;
  esac
}

# Upstream release builds are static (CGO off), stripped and path-trimmed; so are these.
export CGO_ENABLED=0
GOBUILD=(go build -trimpath)

# go_build DIR OUT PKG [LDFLAGS [TAGS]]: build PKG inside the wrapper module DIR.
go_build() {
  local dir=$1 out=$2 pkg=$3 ldflags=${4:-} tags=${5:-}
  (cd "$dir" && "${GOBUILD[@]}" ${tags:+-tags "$tags"} -ldflags "-s -w $ldflags" -o "$out" "$pkg")
}

# The tag's commit time, from the module proxy's .info, as a reproducible build date.
module_time() {
  (cd "$here/$1" && go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' "$2")
}

build_pulumi() {
  go_build "$here/pulumi" "$1" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
    "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION"
}

# The provider module's go.mod replaces its SDK with ../sdk, which only exists in
# upstream's repository, so it cannot be built as a dependency. Build a copy instead,
# with the SDK taken from the proxy at the same release (same go.mod as ../sdk), after
# the release step that writes the versioned schema files main.go embeds.
build_pulumi-resource-kubernetes() {
  local out=$1 mod=github.com/pulumi/pulumi-kubernetes/provider/v4 src work
  # Outside any module, so no go.mod or go.sum of ours is touched.
  src=$(cd "$cache" && GOFLAGS=-mod=mod go mod download -json "$mod@$PULUMI_KUBERNETES_PROVIDER_MODULE" |
    sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  work="$cache/src/pulumi-kubernetes-v$PULUMI_KUBERNETES_VERSION"
  rm -rf "$work" && mkdir -p "$(dirname "$work")" && cp -r "$src" "$work" && chmod -R u+w "$work"
  (cd "$work" &&
    go mod edit -dropreplace github.com/pulumi/pulumi-kubernetes/sdk/v4 &&
    go get "github.com/pulumi/pulumi-kubernetes/sdk/v4@v$PULUMI_KUBERNETES_VERSION" &&
    cd cmd/pulumi-resource-kubernetes && VERSION=$PULUMI_KUBERNETES_VERSION go run generate.go)
  go_build "$work" "$out" ./cmd/pulumi-resource-kubernetes \
    "-X $mod/pkg/version.Version=$PULUMI_KUBERNETES_VERSION"
}

build_etcd() {
  go_build "$here/etcd" "$1" go.etcd.io/etcd/server/v3
}

# As hack/lib/version.sh and golang.sh stamp and tag a release build.
build_kube() {
  local name=$1 out=$2 v=$KUBERNETES_VERSION date flags="" pkg
  date=$(module_time kubernetes k8s.io/kubernetes)
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    flags+=" -X $pkg.gitVersion=v$v -X $pkg.gitMajor=${v%%.*} -X $pkg.gitMinor=$(cut -d. -f2 <<<"$v")"
    flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
  done
  go_build "$here/kubernetes" "$out" "k8s.io/kubernetes/cmd/$name" "$flags" selinux,notest,grpcnotrace
}

# kwok also needs its stage configs: the "fast" set (kustomize/stage/fast) is
# node/fast, node/heartbeat-with-lease and pod/fast; copy their YAMLs beside the binary.
build_kwok() {
  local out=$1 src d
  go_build "$here/kwok" "$out" sigs.k8s.io/kwok/cmd/kwok \
    "-X sigs.k8s.io/kwok/pkg/consts.Version=v$KWOK_VERSION"
  src=$(cd "$here/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
  mkdir -p "$(dirname "$out")/stages"
  for d in node/fast node/heartbeat-with-lease pod/fast; do
    find "$src/kustomize/stage/$d" -maxdepth 1 -name '*.yaml' ! -name kustomization.yaml \
      -exec cp {} "$(dirname "$out")/stages/" \;
  done
  chmod -R u+w "$(dirname "$out")/stages"
}

# stubs/ stands in for the two modules the proxy refuses (see docker-build/go.mod).
build_pulumi-resource-docker-build() {
  go_build "$here/docker-build" "$1" \
    github.com/pulumi/pulumi-docker-build/provider/cmd/pulumi-resource-docker-build \
    "-X github.com/pulumi/pulumi-docker-build/provider.Version=$PULUMI_DOCKER_BUILD_VERSION"
}

# Flags and tags as buildkit's and buildx's Dockerfiles set them for a release.
buildkit_ldflags() {
  echo "-X $1/version.Version=v$2 -X $1/version.Package=$1"
}

build_buildkitd() {
  go_build "$here/buildkit" "$1" github.com/moby/buildkit/cmd/buildkitd \
    "$(buildkit_ldflags github.com/moby/buildkit "$BUILDKIT_VERSION")" "osusergo netgo static_build seccomp"
}

build_buildctl() {
  go_build "$here/buildkit" "$1" github.com/moby/buildkit/cmd/buildctl \
    "$(buildkit_ldflags github.com/moby/buildkit "$BUILDKIT_VERSION")"
}

build_docker-buildx() {
  go_build "$here/buildx" "$1" github.com/docker/buildx/cmd/buildx \
    "$(buildkit_ldflags github.com/docker/buildx "$BUILDX_VERSION")"
}

build_metrics-server() {
  local date
  date=$(module_time metrics-server sigs.k8s.io/metrics-server)
  go_build "$here/metrics-server" "$1" sigs.k8s.io/metrics-server/cmd/metrics-server \
    "-X k8s.io/client-go/pkg/version.gitVersion=v$METRICS_SERVER_VERSION -X k8s.io/client-go/pkg/version.buildDate=$date"
}

build_one() {
  case $1 in
    kube-*|kubectl|kubelet) build_kube "$1" "$2" ;;
    *) "build_$1" "$2" ;;
  esac
}

# Link NAME's cached build (and its shared data) into the clone.
link() {
  local dir=$1 name=$2
  if [[ $name == pulumi ]]; then
    # A hard link (a copy across file systems), not a symlink: the CLI looks for its bundled language hosts
    # beside its resolved executable, and the project's pulumi-language-python sits in .toolchain/bin.
    rm -f "$bin/$name"
    ln "$dir/$name" "$bin/$name" 2>/dev/null || cp "$dir/$name" "$bin/$name"
    return
  fi
  ln -sfn "$dir/$name" "$bin/$name"
  if [[ $name == kwok ]]; then
    mkdir -p "$share/kwok" && ln -sfn "$dir/stages" "$share/kwok/stages"
  fi
}

# Fast: every binary in .toolchain/bin is the cached build of its pinned version.
check() {
  local name want missing=0
  for name in "${ALL[@]}"; do
    want="$cache/$name-$(version_of "$name")/$name"
    if [[ ! -x $want ]] || { [[ $name == pulumi ]] && ! cmp -s "$want" "$bin/$name"; } ||
      { [[ $name != pulumi ]] && [[ $(readlink "$bin/$name" || true) != "$want" ]]; }; then
      echo "toolchain: $name $(version_of "$name") missing" >&2
      missing=1
    fi
  done
  return $missing
}

main() {
  case ${1:-} in
    --check) check; return ;;
    --list) for n in "${ALL[@]}"; do echo "$n $(version_of "$n")"; done; return ;;
  esac
  local names=("$@") name version dir log start failed=()
  ((${#names[@]})) || names=("${ALL[@]}")
  for name in "${names[@]}"; do version_of "$name" >/dev/null; done
  mkdir -p "$cache" "$bin"
  # One build at a time per machine: a second caller waits, then finds the cache filled.
  exec 9>"$cache/.lock"
  flock 9
  for name in "${names[@]}"; do
    version=$(version_of "$name")
    dir="$cache/$name-$version"
    if [[ -x "$dir/$name" ]]; then
      echo "toolchain: $name $version cached"
    else
      mkdir -p "$dir"
      log="$dir/build.log"
      start=$SECONDS
      if build_one "$name" "$dir/$name.tmp" >"$log" 2>&1; then
        mv "$dir/$name.tmp" "$dir/$name"
        echo "toolchain: $name $version built in $((SECONDS - start)) s"
      else
        echo "toolchain: $name $version FAILED after $((SECONDS - start)) s; the end of $log:"
        tail -n 25 "$log" | sed 's/^/    /'
        failed+=("$name")
        continue
      fi
    fi
    link "$dir" "$name"
  done
  # The project's own language host shim (another part of toolchain/) is linked as is.
  if [[ -e "$here/bin/pulumi-language-python" ]]; then
    ln -sfn ../../toolchain/bin/pulumi-language-python "$bin/pulumi-language-python"
  fi
  if ((${#failed[@]})); then
    echo "toolchain: failed: ${failed[*]}" >&2
    return 1
  fi
}

main "$@"
