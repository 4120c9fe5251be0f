"""Extension handlers: resolve the extension in its repo and own a Tiltfile object of the same name.

Two kopf indexes keep what the operator has seen of repos and of who depends on them, so a repo
change reaches its Extensions at once, without polling: the repo's event handler stamps each
dependent Extension with the repo's revision (an annotation), which is an update kopf delivers
to the Extension's own handler.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from tilt_operator import extensions, kube
from tilt_operator.api import ANNOTATION_REPO_REVISION, EXTENSION, EXTENSION_REPO, TILTFILE
from tilt_operator.status import ready_condition, write_status

FIELD_MANAGER = "tilt-operator-extension"


@kopf.index(EXTENSION_REPO.resource)
def repos_by_name(name: str, spec: kopf.Spec, status: kopf.Status, **_: Any) -> dict[str, extensions.RepoView]:
    return {name: extensions.RepoView.from_object(name, spec, status)}


@kopf.index(EXTENSION.resource)
def extensions_by_repo(name: str, spec: kopf.Spec, annotations: kopf.Annotations, **_: Any) -> dict[str, Any]:
    return {spec.get("repoName", ""): (name, annotations.get(ANNOTATION_REPO_REVISION))}


@kopf.index(EXTENSION.resource)
def repo_of_extension(name: str, spec: kopf.Spec, **_: Any) -> dict[str, str]:
    return {name: spec.get("repoName", "")}


def _repo(index: kopf.Index[str, extensions.RepoView], repo_name: str) -> extensions.RepoView | None:
    return next(iter(index.get(repo_name, [])), None)


@kopf.on.event(EXTENSION_REPO.resource)
def notify_extensions(
    name: str,
    type: str,
    repos_by_name: kopf.Index[str, extensions.RepoView],
    extensions_by_repo: kopf.Index[str, Any],
    **_: Any,
) -> None:
    """Stamp every Extension of this repo with the repo's revision when it differs."""
    repo = None if type == "DELETED" else _repo(repos_by_name, name)
    revision = repo.revision() if repo else "absent"
    for extension_name, seen in list(extensions_by_repo.get(name, [])):
        if seen != revision:
            kube.annotate(EXTENSION, extension_name, {ANNOTATION_REPO_REVISION: revision})


@kopf.on.resume(EXTENSION.resource)
@kopf.on.create(EXTENSION.resource)
@kopf.on.update(EXTENSION.resource)
def reconcile(
    body: kopf.Body,
    patch: kopf.Patch,
    repos_by_name: kopf.Index[str, extensions.RepoView],
    logger: logging.Logger,
    **_: Any,
) -> None:
    outcome = extensions.resolve_extension(body.spec, _repo(repos_by_name, body.spec.get("repoName", "")))
    if outcome.path is not None:
        kube.apply(TILTFILE, extensions.build_tiltfile(body, outcome.path), FIELD_MANAGER, force=True)
    else:
        # Nothing runs for an Extension that cannot be resolved, as Tilt does.
        kube.delete_owned(TILTFILE, body.metadata.name, owner_uid=body.metadata.uid)
        logger.warning("%s", outcome.message)
    status = body.get("status", {})
    generation = body.metadata.get("generation")
    desired = {
        "path": str(outcome.path) if outcome.path else None,
        "error": None if outcome.ready else outcome.message,
        "observedGeneration": generation,
        "conditions": ready_condition(
            ready=outcome.ready,
            reason=outcome.reason,
            message=outcome.message,
            generation=generation,
            previous=status.get("conditions"),
        ),
    }
    write_status(patch, status, desired)
