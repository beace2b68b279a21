#!/usr/bin/env bash
# make compose-images: every image docker-compose.yml runs, built on this
# machine with no registry at all (no pull), and tagged with the names
# deploy/compose/local-images.env gives Compose:
#
#   vouchers/<app>:dev       the five apps, FROM scratch around static
#                            binaries built here with the Go build cache
#   vouchers/pod:dev         the network namespace each app shares with
#                            its daprd (tools/runner/cmd/pod)
#   vouchers/daprd:<ver>     the daprd `make daprd` built, FROM scratch
#   vouchers/postgres:15, vouchers/rabbitmq:3.10
#                            Debian's packages on vouchers/debian:bookworm,
#                            a base made once with debootstrap and
#                            `docker import` (needs root; kept afterwards)
#
# --with-peer also builds vouchers/compose-peer:dev, the webhook receiver
# and network prober of the Compose test (e2e/compose/peer).
# Every step is cached: Go's build cache for the binaries, Docker's layer
# cache for the images, the base image while it exists.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
here=$root/deploy/compose/images
cd "$root"
: "${DAPR_VERSION:?DAPR_VERSION is not set (the Makefile sets it)}"
daprd=${DAPRD:-.bin/daprd}
go=${GO:-go}
debian_image=vouchers/debian:bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
peer=false
[ "${1:-}" = --with-peer ] && peer=true

step() { printf '>> [%s] %s\n' "$(date +%T)" "$*"; }
fail() { echo "compose-images: $*" >&2; exit 1; }

docker info >/dev/null 2>&1 ||
  fail "no Docker engine answers (docker info failed): start dockerd, or install one (apt-get install docker.io; docs/deploy.md, \"Docker Compose\")"
ca=/etc/ssl/certs/ca-certificates.crt
[ -s "$ca" ] || fail "no CA bundle at $ca: apt-get install ca-certificates"
[ -x "$daprd" ] || fail "$daprd is missing: make daprd"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log=$work/build.log

# build NAME DOCKERFILE CONTEXT [docker build flags…]: the legacy builder
# (Debian's engine has no BuildKit plugin); quiet unless it fails.
build() {
  local name=$1 file=$2 ctx=$3
  shift 3
  if ! DOCKER_BUILDKIT=0 docker build -f "$file" -t "$name" "$@" "$ctx" >"$log" 2>&1; then
    cat "$log" >&2
    fail "building $name failed (above)"
  fi
  step "$name: $(docker image inspect -f '{{.Size}}' "$name" | awk '{printf "%.1f MB", $1/1e6}')"
}

# static NAME PACKAGE: a FROM scratch image around PACKAGE built static.
static() {
  local name=$1 pkg=$2 ctx=$work/$1
  mkdir -p "$ctx"
  CGO_ENABLED=0 "$go" build -trimpath -ldflags "-s -w" -o "$ctx/app" "$pkg"
  cp "$ca" "$ctx/ca-certificates.crt"
  build "vouchers/$name:dev" "$here/app.Dockerfile" "$ctx"
}

step "the apps, static (CGO_ENABLED=0), FROM scratch"
for app in gateway voucher-int voucher sms voucher-provider; do
  static "$app" "./services/$app"
done
static pod ./tools/runner/cmd/pod
if $peer; then
  static compose-peer ./e2e/compose/peer
fi

step "daprd $DAPR_VERSION ($daprd), FROM scratch"
mkdir -p "$work/daprd/data/sms"
cp "$daprd" "$work/daprd/daprd"
cp "$ca" "$work/daprd/ca-certificates.crt"
"$work/daprd/daprd" --version | grep -qx "$DAPR_VERSION" || fail "$daprd is not daprd $DAPR_VERSION: make daprd"
build "vouchers/daprd:$DAPR_VERSION" "$here/daprd.Dockerfile" "$work/daprd"

if ! docker image inspect "$debian_image" >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || fail "making $debian_image needs root (debootstrap): run this as root once"
  if ! command -v debootstrap >/dev/null; then
    command -v apt-get >/dev/null || fail "debootstrap is missing: install it, or set DEBIAN_MIRROR and run this on Debian"
    step "installing Debian's debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >"$log" 2>&1 ||
      { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >"$log" 2>&1; } ||
      { cat "$log" >&2; fail "apt-get install debootstrap failed (above)"; }
  fi
  step "$debian_image: debootstrap --variant=minbase bookworm (once, about a minute)"
  rootfs=$work/rootfs
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$log" 2>&1 ||
    { tail -20 "$log" >&2; fail "debootstrap failed (above)"; }
  # Security updates too: the images below install from all three.
  security=${mirror%/debian}/debian-security
  printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb %s bookworm-security main\n' \
    "$mirror" "$mirror" "$security" >"$rootfs/etc/apt/sources.list"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" --numeric-owner -c . | docker import -c 'CMD ["/bin/bash"]' - "$debian_image" >/dev/null
  step "$debian_image: $(docker image inspect -f '{{.Size}}' "$debian_image" | awk '{printf "%.1f MB", $1/1e6}')"
fi

step "the stores, from Debian's packages on $debian_image"
build vouchers/postgres:15 "$here/postgres.Dockerfile" "$here" --build-arg "DEBIAN_IMAGE=$debian_image"
build vouchers/rabbitmq:3.10 "$here/rabbitmq.Dockerfile" "$here" --build-arg "DEBIAN_IMAGE=$debian_image"
