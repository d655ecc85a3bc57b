# Two stages: build a static binary, ship it alone.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /tcp_verdict_exporter .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /tcp_verdict_exporter /bin/tcp_verdict_exporter
EXPOSE 9765
USER nonroot
ENTRYPOINT ["/bin/tcp_verdict_exporter"]
