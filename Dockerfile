# syntax=docker/dockerfile:1
#
# The ksplugins server image. The server builds native plugins with the Go
# toolchain it was itself built with (a .so loads only into a host built by
# the same toolchain, with the same flags), so the final image keeps that
# toolchain and a C compiler, and both stages use one base image.
#
#   docker build -t ksplugins:dev .
#   docker run --rm -p 4000:4000 ksplugins:dev
#
# GO_VERSION is the language version of go.mod's go line; the image's patch
# release is the newest of that line. Both stages must use the same value.
ARG GO_VERSION=1.26
ARG DEBIAN_RELEASE=bookworm

FROM golang:${GO_VERSION}-${DEBIAN_RELEASE} AS build
# Never switch to another toolchain than the image's: the final stage runs
# this one, and plugins built with another would not load.
ENV GOTOOLCHAIN=local CGO_ENABLED=1
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# -trimpath: native plugins load only into a host built with it (Makefile).
RUN go build -trimpath -o /out/ksplugins ./cmd/ksplugins \
 && /out/ksplugins --help >/dev/null

FROM golang:${GO_VERSION}-${DEBIAN_RELEASE}
# The server runs as an unprivileged user whose files are all under
# /var/lib/ksplugins (the volume of the Helm chart) and /tmp.
ARG UID=65532
RUN groupadd --system --gid ${UID} ksplugins \
 && useradd --system --uid ${UID} --gid ${UID} --home-dir /var/lib/ksplugins --shell /usr/sbin/nologin ksplugins \
 && install -d -o ${UID} -g ${UID} -m 0750 /var/lib/ksplugins
COPY --from=build /out/ksplugins /usr/local/bin/ksplugins
# The repository's plugins (the cluster-manager, the examples), to load by
# folder: {"source": "/opt/ksplugins/plugins/cluster-manager"}.
COPY --from=build /src/plugins /opt/ksplugins/plugins
ENV GOTOOLCHAIN=local \
    CGO_ENABLED=1 \
    KSPLUGINS_ADDR=:4000 \
    KSPLUGINS_DATA_DIR=/var/lib/ksplugins/data \
    PLUGIN_DIR=/var/lib/ksplugins/plugins \
    PLUGIN_CACHE_DIR=/var/lib/ksplugins/build-cache \
    GOPATH=/var/lib/ksplugins/go \
    GOCACHE=/var/lib/ksplugins/go/cache \
    GOMODCACHE=/var/lib/ksplugins/go/mod \
    HOME=/var/lib/ksplugins
USER ${UID}:${UID}
WORKDIR /var/lib/ksplugins
VOLUME /var/lib/ksplugins
EXPOSE 4000
ENTRYPOINT ["/usr/local/bin/ksplugins"]
CMD ["serve"]
