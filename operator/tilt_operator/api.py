"""Names of the tilt.dev API: group, kinds, labels, annotations and condition reasons, and its CRDs.

Every module that names an API object takes the name from here, so the contract in the CRDs
(crds/) and the code cannot drift apart silently. :func:`shipped_crds` reads the CRDs this package
ships, for what must not contact a cluster (``kubectl tilt --dry-run=client`` and ``render``).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

GROUP = "tilt.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"


@dataclass(frozen=True)
class Kind:
    """One tilt.dev kind: what kopf, the Kubernetes client and the CRDs call it."""

    kind: str
    plural: str

    @property
    def resource(self) -> str:
        """The `plural.group` form kopf and kubectl accept."""
        return f"{self.plural}.{GROUP}"


EXTENSION_REPO = Kind("ExtensionRepo", "extensionrepos")
EXTENSION = Kind("Extension", "extensions")
TILTFILE = Kind("Tiltfile", "tiltfiles")
CMD = Kind("Cmd", "cmds")
UI_BUTTON = Kind("UIButton", "uibuttons")
FILE_WATCH = Kind("FileWatch", "filewatches")
KUBERNETES_APPLY = Kind("KubernetesApply", "kubernetesapplys")
KINDS = (EXTENSION_REPO, EXTENSION, TILTFILE, CMD, UI_BUTTON, FILE_WATCH, KUBERNETES_APPLY)

# Labels and annotations.
LABEL_EXTENSION = "tilt.dev/extension"
# On every object a Tiltfile registered: which Tiltfile (so pruning lists only its objects).
LABEL_TILTFILE = "tilt.dev/tiltfile"
ANNOTATION_RESOURCE = "tilt.dev/resource"
# What local_resource records on its Cmds (docs/design.md, "local_resource"): the resources (their
# Tilt names) whose readiness a Cmd waits for, and the Cmd (its Tilt name) after whose success it
# starts and starts again; the links and labels the dashboard shows.
ANNOTATION_RESOURCE_DEPS = "tilt.dev/resource-deps"
ANNOTATION_START_AFTER = "tilt.dev/start-after"
ANNOTATION_LINKS = "tilt.dev/links"
# Set to any new value (a timestamp, say) to ask for a reconcile now, as Flux's
# reconcile.fluxcd.io/requestedAt does.
ANNOTATION_REQUESTED_AT = "tilt.dev/reconcile-requested-at"

# On the Cmds a Tiltfile registers: the ServiceAccount (of the operator's namespace) their process acts as.
ANNOTATION_SERVICE_ACCOUNT = "tilt.dev/service-account"

# On an Extension that load('ext://…') named, as Tilt's loader marks it (docs/design.md, "load() and
# include()"): it runs no Tiltfile of its own, and the Tiltfiles that load it share it.
ANNOTATION_MANAGED_BY = "tilt.dev/managed-by"
MANAGED_BY_LOADER = "tiltfile.loader"

# Stamped on an Extension by the operator whenever its repo changes: the update that re-reconciles it.
ANNOTATION_REPO_REVISION = "tilt.dev/repo-revision"

# Where kopf keeps its own bookkeeping annotations.
KOPF_PREFIX = f"kopf.{GROUP}"

# The one condition every kind reports.
CONDITION_READY = "Ready"
# kstatus's conditions beside Ready: work still in flight (or retried), and nothing more to do
# until something changes (the spec, a file, a Secret, the operator's settings).
CONDITION_RECONCILING = "Reconciling"
CONDITION_STALLED = "Stalled"


def shipped_crds() -> list[dict[str, Any]]:
    """The CRDs this package ships (the repo's crds/), in file order."""
    directory = resources.files("tilt_operator") / "crds"
    documents = (
        doc
        for entry in sorted(directory.iterdir(), key=lambda entry: entry.name)
        if entry.name.endswith(".yaml")
        for doc in yaml.safe_load_all(entry.read_text())
    )
    return [doc for doc in documents if doc and doc.get("kind") == "CustomResourceDefinition"]
