# Two stages: build a static binary, ship it alone.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
RUN CGO_ENABLED=0 go build -trimpath -o /tcp_verdict_exporter \
    -ldflags="-s -w -X github.com/prometheus/common/version.Version=${VERSION} -X github.com/prometheus/common/version.Revision=${REVISION}" .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /tcp_verdict_exporter /bin/tcp_verdict_exporter
EXPOSE 9765
USER nonroot
ENTRYPOINT ["/bin/tcp_verdict_exporter"]
