# An app of ours, without a registry: FROM scratch around the static binary
# build.sh made on the host (CGO_ENABLED=0), with the CA certificates
# gateway's https webhooks need, as the non-root user 65532. The binary is
# its own healthcheck: `app healthcheck`. The repository's Dockerfile makes
# the same image where the Go and distroless images can be pulled.
FROM scratch
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY app /app
USER 65532:65532
ENTRYPOINT ["/app"]
