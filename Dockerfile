# The image is one static binary on an empty base, so it builds offline:
# scripts/image.sh compiles the binary and stages it, with the host's CA
# bundle and a passwd/group naming the non-root user, in .build/OS-ARCH/
# (README.md, "Container image"). Build it with that script, not by hand.
FROM scratch
ARG OS=linux
ARG ARCH=amd64
ARG VERSION=unknown
ARG REVISION=unknown
LABEL org.opencontainers.image.title="tcp_verdict_exporter" \
      org.opencontainers.image.description="Prometheus exporter that tells, as telnet would, why a TCP port cannot be reached" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

COPY .build/${OS}-${ARCH}/tcp_verdict_exporter /bin/tcp_verdict_exporter
COPY config.yml                                /etc/tcp_verdict_exporter/config.yml
# For modules with tls: true (the trust store Go reads on Linux).
COPY .build/${OS}-${ARCH}/ca-certificates.crt  /etc/ssl/certs/ca-certificates.crt
COPY .build/${OS}-${ARCH}/passwd               /etc/passwd
COPY .build/${OS}-${ARCH}/group                /etc/group

EXPOSE     9765
# nobody:nogroup, numeric so that runtimes enforcing runAsNonRoot can check it.
USER       65534:65534
ENTRYPOINT ["/bin/tcp_verdict_exporter"]
CMD        ["--config.file=/etc/tcp_verdict_exporter/config.yml"]
