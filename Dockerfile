# One image per service: docker build --build-arg SERVICE=gateway -t vouchers/gateway .
# Build stage: the whole workspace (go.work ties the modules together), a
# static binary (no cgo), no debug symbols.
FROM golang:1.26-bookworm AS build
ARG SERVICE
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
RUN --mount=type=cache,target=/root/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    test -n "$SERVICE" && \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/app ./services/$SERVICE

# Run stage: distroless static (CA certificates, tzdata, no shell), as the
# non-root user 65532. The binary is its own healthcheck: `app healthcheck`.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/app /app
USER 65532:65532
ENTRYPOINT ["/app"]
