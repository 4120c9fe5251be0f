# The operator's image: `docker build -t tilt-operator:dev .` (see manifests/ and kind-config.yaml).
#
# The base images are build arguments whose defaults are the public images a `docker build` pulls,
# each pinned by its tag and by the digest of that tag's multi-platform index, so a rebuild gets the
# same bytes the tag named when it was pinned (a moved tag fails the pull instead). To move to a new
# tag, take its digest from the registry, e.g. `docker buildx imagetools inspect <tag>` ("Digest:").
# A machine without a registry passes images it made itself, by their local names: the end-to-end
# test builds this file with `buildah bud` on local bases (tilt_operator.devcluster.images,
# docs/design.md).
#
# Nothing of the building machine is copied into a layer. Where its network needs them (a proxy, a
# CA of its own), the build may lend two files as build secrets, mounted under /run/secrets for the
# one RUN that needs them and in no layer: `--secret id=ca-certificates,src=<CA bundle>` for the
# Go module download and pip, `--secret id=apt-settings,src=<apt.conf>` for apt. Without them the
# bases' own trust store and apt settings are used.
ARG KUBECTL_IMAGE=registry.k8s.io/kubectl:v1.36.3@sha256:6e4fce3c83651edb91b74bc67701c5cd263dd8aa3cd4254b1798d6425a5ab789
ARG GOLANG_IMAGE=golang:1.26.8-bookworm@sha256:9fdc884aacc3bec89b20ffc69f4bb369c78210e3e4f600387b5128b12c199f81
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm@sha256:86adf8dbadc3d6e82ee5dd2c74bec2e1c2467cdad47886280501df722372d2e1

# kubectl, for the `tilt` command that extension scripts run inside Cmds (same release as the
# control plane the tests use, hack/controlplane/go.mod).
FROM ${KUBECTL_IMAGE} AS kubectl

# The Tiltfile host (operator/tilt_operator/engine/host/, Go on go.starlark.net), built here so the
# image itself needs no Go toolchain; the operator finds it through TILT_OPERATOR_TILTFILE_HOST.
# Its modules are the ones go.sum pins, checked against their hashes as they are downloaded.
FROM ${GOLANG_IMAGE} AS host
WORKDIR /host
COPY operator/tilt_operator/engine/host/ ./
RUN --mount=type=secret,id=ca-certificates \
    if [ -f /run/secrets/ca-certificates ]; then export SSL_CERT_FILE=/run/secrets/ca-certificates; fi \
    && CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags="-s -w" -o /tiltfile-host .

# The operator's virtual environment, made in a stage of its own: pip, the package's build backend
# and its sources stay here, and the image gets the environment alone. A virtual environment is the
# same on any Python base, whatever its distribution lets pip do to the system's Python; it is made
# on the image's own base, so its interpreter is the one the image runs. In it, the dependencies
# exactly as requirements/runtime.txt pins them (made from pyproject.toml by hack/lock.sh): every
# file checked against its hash, nothing resolved. The lock has the build backend too, so the
# package's own install needs neither the network nor an unpinned build environment; the package is
# this repo's without the local control plane (.dockerignore leaves out tilt_operator/devcluster,
# which only `tilt-operator dev` uses). tests/integration/test_deployment.py runs these COPY lines
# and pip commands the same way.
FROM ${PYTHON_IMAGE} AS venv
ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements/runtime.txt requirements/
RUN --mount=type=secret,id=ca-certificates \
    if [ -f /run/secrets/ca-certificates ]; then export PIP_CERT=/run/secrets/ca-certificates; fi \
    && python3 -m venv /opt/tilt-operator \
    && /opt/tilt-operator/bin/pip install --no-cache-dir --require-hashes --no-deps -r requirements/runtime.txt
COPY pyproject.toml README.md ./
COPY crds/ crds/
COPY operator/ operator/
RUN /opt/tilt-operator/bin/pip install --no-cache-dir --no-deps --no-build-isolation . \
    && /opt/tilt-operator/bin/pip uninstall --yes --quiet setuptools pip

FROM ${PYTHON_IMAGE}

# git fetches the ExtensionRepos (https, ssh and file); ca-certificates lets it verify https servers,
# openssh-client reaches ssh:// ones; bash, jq and rsync are what extensions written for Tilt
# script with (when execution is enabled; upstream syncback's manual resource is an rsync).
RUN --mount=type=secret,id=apt-settings \
    if [ -f /run/secrets/apt-settings ]; then export APT_CONFIG=/run/secrets/apt-settings; fi \
    && apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates openssh-client jq rsync \
    && rm -rf /var/lib/apt/lists/*
COPY --from=kubectl /bin/kubectl /usr/local/bin/kubectl
COPY --from=host /tiltfile-host /usr/local/bin/tiltfile-host
COPY --from=venv /opt/tilt-operator /opt/tilt-operator

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TILT_OPERATOR_TILTFILE_HOST=/usr/local/bin/tiltfile-host \
    PATH=/opt/tilt-operator/bin:$PATH

# A non-root user with a fixed uid, so the Deployment's runAsNonRoot can be checked; the data dir
# is its own, for `docker run` without a volume (the Deployment mounts one there).
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /tmp --shell /usr/sbin/nologin tilt \
    && mkdir -p /var/lib/tilt-dev \
    && chown tilt:tilt /var/lib/tilt-dev
ENV HOME=/tmp \
    TILT_OPERATOR_DATA_DIR=/var/lib/tilt-dev
USER 10001:10001
WORKDIR /var/lib/tilt-dev

# kopf's liveness endpoint, probed by the Deployment.
EXPOSE 8080
ENTRYPOINT ["tilt-operator", "run"]
CMD ["--liveness=http://0.0.0.0:8080/healthz"]
