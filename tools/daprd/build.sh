#!/usr/bin/env bash
# make daprd: builds daprd $DAPR_VERSION into $1 with the machine's Go.
#
# dapr's own cmd/daprd (app.Run, unchanged) from a copy of the dapr module in
# which cmd/daprd/components keeps only the registrations components.txt
# lists: the rest of components-contrib (cloud SDKs, Pulsar …) is
# never compiled. That makes the first build minutes shorter, and it is what
# makes it possible at all here: with every component, daprd needs modules
# the Go module proxy does not serve (a Pulsar client fork and the Avro
# library it uses).
set -euo pipefail
out=$1
version=${DAPR_VERSION:?}
here=$(cd "$(dirname "$0")" && pwd)
src=$here/.src/dapr
mkdir -p "$(dirname "$out")"

step() { printf '>> [%s] %s\n' "$(date +%T)" "$*"; }

step "daprd $version: fetching github.com/dapr/dapr@v$version (module cache)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dir=$(cd "$tmp" && GOWORK=off GOFLAGS=-mod=mod go mod download -json "github.com/dapr/dapr@v$version" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$dir" ] || { echo "daprd: github.com/dapr/dapr@v$version was not downloaded" >&2; exit 1; }

step "copying it to tools/daprd/.src/dapr and keeping $(grep -cv '^#' "$here/components.txt") component registrations (components.txt)"
rm -rf "$src"
mkdir -p "$(dirname "$src")"
cp -r "$dir" "$src"
chmod -R u+w "$src"
keep=$(grep -v '^#' "$here/components.txt" | awk 'NF {print $1}')
for f in $keep; do
  [ -f "$src/cmd/daprd/components/$f" ] || { echo "daprd: components.txt names $f, which dapr $version does not have" >&2; exit 1; }
done
for f in "$src"/cmd/daprd/components/*; do
  grep -qxF "$(basename "$f")" <<<"$keep" || rm -f "$f"
done

# Fixes to components-contrib, in a copy of its module (.src/components-
# contrib, which go.mod's replace names), one patch each in patches/:
# - jetstream-manual-ack: the JetStream component's parallel mode
#   (concurrencyMode: parallel) subscribes without nats.ManualAck(), so
#   nats.go acknowledges each message as soon as the component's callback
#   returns, which in parallel mode is before the handler has even started:
#   a daprd or app killed mid-handler loses the event, and maxAckPending
#   bounds nothing (dapr/components-contrib#3656, #3922). With ManualAck the
#   component's own Ack after the handler (or its Nak on failure) is the
#   only one. Single mode behaves as before.
# - rabbitmq-publish-confirm: the RabbitMQ component waits for each
#   publisher confirm while holding its channel's lock, so a sidecar's
#   publishes go one confirm round trip at a time; and it reports a publish
#   the broker did not confirm (or one cancelled) as a success. It now waits
#   after releasing the lock, and a missing confirm is an error.
# git apply runs outside any repository here (in $tmp), as a plain patch
# tool; a patch that does not apply stops the build.
step "copying github.com/dapr/components-contrib to tools/daprd/.src/components-contrib and applying patches/"
contrib_version=$(awk '$1 == "github.com/dapr/components-contrib" {print $2; exit}' "$src/go.mod")
contrib=$(cd "$tmp" && GOWORK=off GOFLAGS=-mod=mod go mod download -json "github.com/dapr/components-contrib@$contrib_version" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$contrib" ] || { echo "daprd: github.com/dapr/components-contrib@$contrib_version was not downloaded" >&2; exit 1; }
rm -rf "$here/.src/components-contrib"
cp -r "$contrib" "$here/.src/components-contrib"
chmod -R u+w "$here/.src/components-contrib"
for p in "$here"/patches/*.patch; do
  (cd "$tmp" && git apply --unsafe-paths --directory="$here/.src/components-contrib" "$p") ||
    { echo "daprd: $(basename "$p") does not apply to components-contrib $contrib_version" >&2; exit 1; }
done

step "downloading the modules it needs (the first time: a few hundred MB)"
(cd "$here" && GOWORK=off go mod download)

step "compiling (the first time: a few minutes on two cores)"
# The compile says nothing until it ends: a line a minute shows it is
# still going.
started=$(date +%s)
# (Its sleep writes nowhere, so nothing left of it holds make's output
# open once it is stopped.)
( trap 'exit 0' TERM
  while kill -0 $$ 2>/dev/null; do
    sleep 60 >/dev/null 2>&1 &
    wait $!
    step "still compiling ($(( $(date +%s) - started )) s)"
  done ) &
ticker=$!
trap 'kill "$ticker" 2>/dev/null || true; rm -rf "$tmp"' EXIT
# Static (no cgo), as Dapr's own release builds are: the same binary runs
# beside the local runner and, alone in a FROM scratch image, in Compose
# (deploy/compose/images).
(cd "$here" && CGO_ENABLED=0 GOWORK=off GOTOOLCHAIN=local go build -trimpath -tags allcomponents \
  -ldflags "-s -w -X github.com/dapr/dapr/pkg/buildinfo.version=$version" \
  -o "$out" github.com/dapr/dapr/cmd/daprd)
kill "$ticker" 2>/dev/null || true
step "built $("$out" --version)"
