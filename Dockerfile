# syntax=docker/dockerfile:1
# Build: make docker   (or: docker build --build-arg VERSION=$(git describe --always) -t idbroker .)
# The base images are pinned by digest, so a rebuild gets the same bytes. Refresh
# both digests together on a machine with registry access and review the change:
#   crane digest golang:1.26
#   crane digest gcr.io/distroless/static-debian12:nonroot
# Run:   docker run -p 8080:8080 -v $PWD/config.yaml:/etc/idbroker/config.yaml:ro idbroker
FROM golang:1.26@sha256:0f063af2d465d8dcae54cce04278ada488b96f77b42449c8d071e47d016cc65a AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/idbroker ./cmd/idbroker

FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab
COPY --from=build /out/idbroker /usr/local/bin/idbroker
COPY configs/demo.yaml /etc/idbroker/config.yaml
USER nonroot:nonroot
# Soft memory limit for the Go runtime: keeps RSS flat under many connections
# (BENCHMARKS.md, RSS at 1,000 connections). Override with -e GOMEMLIMIT=...
ENV GOMEMLIMIT=80MiB
EXPOSE 8080
# Ready: the state store answers and the revocation set is in sync (the
# image has no shell or curl: the binary asks itself). /healthz is liveness.
HEALTHCHECK --interval=10s --timeout=6s --start-period=15s --retries=3 \
  CMD ["/usr/local/bin/idbroker", "healthcheck", "--url", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["/usr/local/bin/idbroker"]
CMD ["serve", "--config", "/etc/idbroker/config.yaml", "--listen", "0.0.0.0:8080"]
