# One image per service: docker build --build-arg SERVICE=gateway -t vouchers/gateway:dev .
# (and the Compose pods': --build-arg MAIN=./tools/runner/cmd/pod).
# Where no registry can be reached, `make compose-images` makes the same
# images FROM scratch around binaries built on the host
# (deploy/compose/images).
# The two base images are build arguments, for a mirror or a pinned digest.
ARG GO_IMAGE=golang:1.26-bookworm
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot

# Build stage: the whole workspace (go.work ties the modules together), a
# static binary (no cgo), no debug symbols.
FROM ${GO_IMAGE} AS build
ARG SERVICE
ARG MAIN=./services/${SERVICE}
WORKDIR /src
COPY go.work go.work.sum ./
COPY api/go.mod api/go.sum api/
COPY kit/go.mod kit/go.sum kit/
COPY services/gateway/go.mod services/gateway/go.sum services/gateway/
COPY services/sms/go.mod services/sms/go.sum services/sms/
COPY services/voucher/go.mod services/voucher/go.sum services/voucher/
COPY services/voucher-int/go.mod services/voucher-int/go.sum services/voucher-int/
COPY services/voucher-provider/go.mod services/voucher-provider/go.sum services/voucher-provider/
COPY tools/runner/go.mod tools/runner/go.sum tools/runner/
COPY tools/bench/go.mod tools/bench/
COPY e2e/go.mod e2e/go.sum e2e/
COPY deploy/go.mod deploy/go.sum deploy/
RUN --mount=type=cache,target=/root/go/pkg/mod go mod download all
COPY api api
COPY kit kit
COPY services services
COPY tools/runner tools/runner
RUN --mount=type=cache,target=/root/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    test "$MAIN" != ./services/ && \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/app "$MAIN"

# Run stage: distroless static (CA certificates, tzdata, no shell), as the
# non-root user 65532. The binary is its own healthcheck: `app healthcheck`.
FROM ${BASE_IMAGE}
COPY --from=build /out/app /app
USER 65532:65532
ENTRYPOINT ["/app"]
