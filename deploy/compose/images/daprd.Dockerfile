# daprd as `make daprd` builds it (static, the profiles' components only,
# tools/daprd/patches applied), laid out as daprio/daprd is: the binary at
# /daprd, run as ./daprd from /, as the non-root user 65532.
# /data/sms belongs to that user, so the sms-outbox volume, which Docker
# fills from the image the first time, is writable by the sms sidecar.
FROM scratch
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY daprd /daprd
COPY --chown=65532:65532 data /data
WORKDIR /
USER 65532:65532
