"""What the dashboard shows, computed from the cache: one entry per resource, and the top bar's buttons.

A resource is what :mod:`~tilt_operator.web.resources` says (a Tiltfile, a ``tilt.dev/resource``
group of Cmds and KubernetesApplys, a Cmd of its own); an Extension shows as its Tiltfile, and as
itself while it has none yet. A KubernetesApply shows with each object it deployed and that
object's health. Each entry says at a glance how the resource is (:data:`STATUSES`, worst first), with
the last error split into file, line and message, the reasons for the last run, and the
Extension, repo and commit it came from, and its links. UIButtons sit where Tilt puts them: ``Resource``
buttons on the resource their ``componentID`` names (Tilt's name or the object's), ``Global``
ones in the top bar. The catalogue lists what every repo offers and what of it is installed.

Everything here is plain data for the page, which shows every string as text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from tilt_operator import reasons
from tilt_operator.api import (
    ANNOTATION_LINKS,
    CMD,
    EXTENSION,
    EXTENSION_REPO,
    KUBERNETES_APPLY,
    LABEL_EXTENSION,
    TILTFILE,
    UI_BUTTON,
    Kind,
)
from tilt_operator.clicks import INPUT_KINDS
from tilt_operator.gitstore import catalogue
from tilt_operator.names import ANNOTATION_TILT_NAME, InvalidName, object_name
from tilt_operator.reconcilers.cache import Cache, Object
from tilt_operator.web import resources

# Worst first: a resource made of several objects shows the worst of theirs.
STATUSES = ("error", "running", "pending", "ok")
# How the sidebar orders resources: Tiltfiles (Extensions) first, as Tilt lists its Tiltfile first.
_RANK = {"tiltfile": 0, "local_resource": 1, "cmd": 1, "k8s_resource": 1}
# A deployed object's kstatus, as the page says how a thing is.
_HEALTH = {"Current": "ok", "InProgress": "pending", "Failed": "error"}
# "path/Tiltfile:12:5: message", as the engine reports an error in a Tiltfile or a file it loaded.
_LOCATED = re.compile(r"(?P<file>[^\n]+?):(?P<line>\d+):(?P<column>\d+): (?P<message>.*)", re.DOTALL)

View = dict[str, Any]


def _key(name: str) -> str:
    """Tilt's name and the object's name of one thing compare equal (``sleeper:cancel``, ``sleeper.cancel``)."""
    try:
        return object_name(name)
    except InvalidName:
        return name


def _status(obj: Object) -> Mapping[str, Any]:
    return obj.get("status") or {}


def error_view(text: str) -> dict[str, Any]:
    """An error message, with the file and line it names when it names one."""
    located = _LOCATED.fullmatch(text)
    if not located:
        return {"text": text, "file": None, "line": None, "message": text}
    return {
        "text": text,
        "file": located["file"],
        "line": int(located["line"]),
        "message": located["message"],
    }


def _tiltfile_state(tiltfile: Object | None, extension: Object | None) -> dict[str, Any]:
    status = _status(tiltfile) if tiltfile else {}
    extension_error = _status(extension).get("error") if extension else None
    if (terminated := status.get("terminated")) is not None:
        error = terminated.get("error")
        return {
            "status": "error" if error else "ok",
            "summary": "run failed" if error else "run succeeded",
            "error": error_view(error) if error else None,
            "reasons": list(terminated.get("reasons") or []),
            "startedAt": terminated.get("startedAt"),
            "finishedAt": terminated.get("finishedAt"),
        }
    state: dict[str, Any] = {"error": None, "reasons": [], "startedAt": None, "finishedAt": None}
    if extension_error:
        return {**state, "status": "error", "summary": "not loaded", "error": error_view(extension_error)}
    if (running := status.get("running")) is not None:
        reasons = list(running.get("reasons") or [])
        return {
            **state,
            "status": "running",
            "summary": "running",
            "reasons": reasons,
            "startedAt": running.get("startedAt"),
        }
    waiting = (status.get("waiting") or {}).get("reason")
    return {**state, "status": "pending", "summary": waiting or ("waiting for its repo" if extension else "pending")}


def _cmd_state(cmd: Object) -> dict[str, Any]:
    status = _status(cmd)
    if (running := status.get("running")) is not None:
        return {
            "status": "running",
            "summary": f"running (pid {running.get('pid')})",
            "startedAt": running.get("startedAt"),
        }
    if (terminated := status.get("terminated")) is not None:
        reason = str(terminated.get("reason") or f"exited with code {terminated.get('exitCode')}")
        return {
            "status": "ok" if terminated.get("exitCode") == 0 else "error",
            "summary": reason if terminated.get("exitCode") == 0 else f"terminated: {reason}",
            "startedAt": terminated.get("startedAt"),
            "finishedAt": terminated.get("finishedAt"),
        }
    return {"status": "pending", "summary": (status.get("waiting") or {}).get("reason") or "pending"}


def _deploy_state(deploy: Object) -> dict[str, Any]:
    """A KubernetesApply's state, from its Ready condition: ok once all it applied is Current."""
    status = _status(deploy)
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    if ready is None:
        return {"status": "pending", "summary": "not applied yet"}
    reason = ready.get("reason")
    waiting = reason in (reasons.PROGRESSING, reasons.DEPENDENCY_NOT_READY)
    state = "ok" if ready.get("status") == "True" else "pending" if waiting else "error"
    return {"status": state, "summary": str(ready.get("message") or reason), "finishedAt": status.get("lastApplyTime")}


def _deployed_views(deploy: Object) -> list[dict[str, Any]]:
    """What a KubernetesApply deployed, one row each, with its health."""
    rows = []
    for item in _status(deploy).get("inventory") or []:
        where = f"{item['namespace']}/" if item.get("namespace") else ""
        rows.append(
            {
                "ref": f"{str(item.get('kind', '')).lower()}/{where}{item.get('name', '')}",
                "status": _HEALTH.get(str(item.get("health")), "pending"),
                "summary": f"{item.get('health', 'unknown')}: {item.get('message', '')}",
            }
        )
    return rows


def _title(obj: Object) -> str:
    metadata = obj["metadata"]
    return str((metadata.get("annotations") or {}).get(ANNOTATION_TILT_NAME) or metadata["name"])


def _source(cache: Cache, extension_name: str | None) -> dict[str, Any] | None:
    extension = cache.get(EXTENSION, extension_name) if extension_name else None
    if extension is None:
        return None
    spec = extension.get("spec") or {}
    repo = cache.get(EXTENSION_REPO, str(spec.get("repoName", "")))
    repo_spec, repo_status = (repo.get("spec") or {}, _status(repo)) if repo else ({}, {})
    return {
        "extension": extension["metadata"]["name"],
        "repo": spec.get("repoName"),
        "path": spec.get("repoPath"),
        "url": repo_spec.get("url"),
        "ref": repo_spec.get("ref"),
        "commit": repo_status.get("checkoutRef"),
    }


def _input_view(spec: Mapping[str, Any]) -> dict[str, Any]:
    kind = next((kind for kind in INPUT_KINDS if spec.get(kind) is not None), "text")
    details = spec.get(kind) or {}
    return {
        "name": spec.get("name", ""),
        "label": spec.get("label") or spec.get("name", ""),
        "type": kind,
        "default": details.get("choices", [""])[0] if kind == "choice" else details.get("defaultValue"),
        "placeholder": details.get("placeholder"),
        "choices": details.get("choices") if kind == "choice" else None,
        "value": details.get("value") if kind == "hidden" else None,
    }


def button_view(button: Object) -> dict[str, Any]:
    spec = button.get("spec") or {}
    return {
        "name": button["metadata"]["name"],
        "text": spec.get("text", ""),
        "iconName": spec.get("iconName"),
        "iconSVG": spec.get("iconSVG"),
        "disabled": bool(spec.get("disabled")),
        "requiresConfirmation": bool(spec.get("requiresConfirmation")),
        "inputs": [_input_view(spec) for spec in spec.get("inputs") or []],
        "lastClickedAt": _status(button).get("lastClickedAt"),
    }


def _object_view(kind: Kind, obj: Object, state: Mapping[str, Any]) -> dict[str, Any]:
    prefix = {TILTFILE: "tf", CMD: "cmd", KUBERNETES_APPLY: "ka"}[kind]
    view = {"ref": f"{prefix}/{obj['metadata']['name']}", **state}
    if kind == CMD:
        view["command"] = " ".join(str(arg) for arg in (obj.get("spec") or {}).get("args") or [])
    return view


def _links(objects: list[Object]) -> list[dict[str, str]]:
    """The links local_resource(links=...) or k8s_resource(links=...) gave the resource: http and
    https only, each once."""
    found: dict[str, dict[str, str]] = {}
    for obj in objects:
        try:
            links = json.loads((obj["metadata"].get("annotations") or {}).get(ANNOTATION_LINKS) or "[]")
        except ValueError:
            continue
        for link in links if isinstance(links, list) else []:
            url = str(link.get("url", "")) if isinstance(link, dict) else ""
            if url.lower().startswith(("http://", "https://")):
                found.setdefault(url, {"url": url, "name": str(link.get("name") or url)})
    return list(found.values())


def _port_forwards(deploys: list[Object]) -> list[str]:
    """The port forwards k8s_resource(port_forwards=...) recorded, as Tilt names them: local port,
    then the container port and name where given. The operator forwards no port."""
    found = []
    for deploy in deploys:
        forwards = ((deploy.get("spec") or {}).get("portForwardTemplateSpec") or {}).get("forwards") or []
        for forward in forwards:
            text = f"localhost:{forward.get('localPort')}"
            if forward.get("containerPort"):
                text += f" → {forward['containerPort']}"
            found.append(f"{text} ({forward['name']})" if forward.get("name") else text)
    return found


def _worst(states: Iterable[Mapping[str, Any]]) -> str:
    found = {state["status"] for state in states}
    return next((status for status in STATUSES if status in found), "pending")


def _resource_view(cache: Cache, name: str, objects: list[tuple[Kind, Object]], extension: Object | None) -> View:
    tiltfile = next((obj for kind, obj in objects if kind == TILTFILE), None)
    cmds = [obj for kind, obj in objects if kind == CMD]
    cmd_views = [_object_view(CMD, cmd, _cmd_state(cmd)) for cmd in cmds]
    deploys = [obj for kind, obj in objects if kind == KUBERNETES_APPLY]
    deploy_views = [_object_view(KUBERNETES_APPLY, deploy, _deploy_state(deploy)) for deploy in deploys]
    deployed = [row for deploy in deploys for row in _deployed_views(deploy)]
    extension_name = None
    if tiltfile is not None or extension is not None:
        # A Tiltfile's own state says how its run went; the Cmds it registered add theirs.
        kind_name, main = "tiltfile", _tiltfile_state(tiltfile, extension)
        views = [_object_view(TILTFILE, tiltfile, main)] if tiltfile else []
        views += cmd_views + deploy_views + deployed
        if cmds:
            main["summary"] += f"; cmds: {_group_summary(cmd_views)}"
        if deploys:
            main["summary"] += f"; deployed: {_group_summary(deployed or deploy_views)}"
        labels = (tiltfile or {}).get("metadata", {}).get("labels") or {}
        extension_name = extension["metadata"]["name"] if extension else labels.get(LABEL_EXTENSION)
    elif deploys and not cmds:
        kind_name, views = "k8s_resource", deploy_views + deployed
        main = {key: value for key, value in deploy_views[0].items() if key != "ref"}
    elif len(cmds) == 1 and resources.resource_of(CMD, cmds[0]) == cmds[0]["metadata"]["name"]:
        kind_name, views = "cmd", cmd_views
        main = {key: value for key, value in cmd_views[0].items() if key not in ("ref", "command")}
    else:
        kind_name, views = "local_resource", cmd_views + deploy_views + deployed
        main = {"summary": cmd_views[0]["summary"] if len(cmd_views) == 1 else _group_summary(cmd_views)}
    owner = tiltfile or extension or (cmds[0] if len(cmds) == 1 else deploys[0] if len(deploys) == 1 else None)
    return {
        "name": name,
        "title": _title(owner) if owner else name,
        "type": kind_name,
        "rank": _RANK[kind_name],
        "error": None,
        "reasons": [],
        "startedAt": None,
        "finishedAt": None,
        **main,
        "status": _worst(views or [main]),
        "source": _source(cache, extension_name),
        "objects": views,
        "links": _links(cmds + deploys),
        "portForwards": _port_forwards(deploys),
        "buttons": [],
    }


def _group_summary(states: list[dict[str, Any]]) -> str:
    counts = {status: sum(1 for state in states if state["status"] == status) for status in STATUSES}
    return ", ".join(f"{count} {status}" for status, count in counts.items() if count)


def build(cache: Cache) -> View:
    """The whole dashboard: ``resources`` by name, the ``globals`` buttons of the top bar, and the ``catalogue``."""
    grouped = resources.resources(cache)
    extensions = {obj["metadata"]["name"]: obj for obj in cache.objects(EXTENSION)}
    views = {
        name: _resource_view(cache, name, resource.objects, extensions.get(name)) for name, resource in grouped.items()
    }
    for name, extension in extensions.items():
        if name not in views:  # not run yet: no Tiltfile
            views[name] = _resource_view(cache, name, [], extension)
    by_key = {_key(name): name for name in views}
    globals_ = []
    for button in sorted(cache.objects(UI_BUTTON), key=lambda obj: obj["metadata"]["name"]):
        location = (button.get("spec") or {}).get("location") or {}
        if str(location.get("componentType", "")).lower() == "global":
            globals_.append(button_view(button))
        elif (owner := by_key.get(_key(str(location.get("componentID", ""))))) is not None:
            views[owner]["buttons"].append(button_view(button))
    return {"resources": views, "globals": globals_, "catalogue": _catalogue(cache)}


def _catalogue(cache: Cache) -> dict[str, Any]:
    """Every repo, and every extension the repos offer with the Extensions installing it."""
    repos = sorted(cache.objects(EXTENSION_REPO), key=lambda obj: obj["metadata"]["name"])
    return {
        "repos": [
            {
                "name": repo["metadata"]["name"],
                "url": (repo.get("spec") or {}).get("url"),
                "commit": _status(repo).get("checkoutRef"),
                "error": _status(repo).get("error"),
                "note": _status(repo).get("extensionsNote"),
            }
            for repo in repos
        ],
        "extensions": catalogue.listing(repos, cache.objects(EXTENSION)),
    }
