# The operator's image: `docker build -t tilt-operator:dev .` (see manifests/ and kind-config.yaml).
#
# The base images are build arguments whose defaults are the public images a `docker build` pulls,
# pinned by tag (pin by digest too, python:3.11.13-slim-bookworm@sha256:…, where the registry is
# reachable). A machine without a registry passes images it made itself: the end-to-end test builds
# this file with `buildah bud` on local bases (tilt_operator.devcluster.images, docs/design.md).
ARG KUBECTL_IMAGE=registry.k8s.io/kubectl:v1.36.3
ARG GOLANG_IMAGE=golang:1.26.8-bookworm
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

# kubectl, for the `tilt` command that extension scripts run inside Cmds (same release as the
# control plane the tests use, hack/controlplane/go.mod).
FROM ${KUBECTL_IMAGE} AS kubectl

# The Tiltfile host (operator/tilt_operator/engine/host/, Go on go.starlark.net), built here so the
# image itself needs no Go toolchain; the operator finds it through TILT_OPERATOR_TILTFILE_HOST.
FROM ${GOLANG_IMAGE} AS host
WORKDIR /host
COPY operator/tilt_operator/engine/host/ ./
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /tiltfile-host .

FROM ${PYTHON_IMAGE}

# git fetches the ExtensionRepos (https, ssh and file); ca-certificates lets it verify https servers,
# openssh-client reaches ssh:// ones; bash, jq and rsync are what extensions written for Tilt
# script with (when execution is enabled; upstream syncback's manual resource is an rsync).
RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates openssh-client jq rsync \
    && rm -rf /var/lib/apt/lists/*
COPY --from=kubectl /bin/kubectl /usr/local/bin/kubectl
COPY --from=host /tiltfile-host /usr/local/bin/tiltfile-host

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TILT_OPERATOR_TILTFILE_HOST=/usr/local/bin/tiltfile-host \
    PATH=/opt/tilt-operator/bin:$PATH

# The package, installed from this repo exactly as a user installs it, into a virtual environment of
# its own: the same on any Python base, whatever its distribution lets pip do to the system's Python
# (tests/integration/test_deployment.py runs these COPY lines and this pip command the same way).
WORKDIR /src
COPY pyproject.toml README.md ./
COPY crds/ crds/
COPY operator/ operator/
RUN python3 -m venv /opt/tilt-operator \
    && /opt/tilt-operator/bin/pip install --no-cache-dir . \
    && /opt/tilt-operator/bin/pip uninstall --yes --quiet pip \
    && rm -rf /src

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
