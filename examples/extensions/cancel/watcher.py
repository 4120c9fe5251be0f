"""Watch Cmds and give every running one a Cancel button (the cancel extension's watcher).

For each Cmd this extension did not create, it keeps:
- a UIButton ``<cmd>:cancel`` (object name ``<cmd>.cancel``): "Cancel", shown on the Cmd's
  resource, disabled unless the Cmd has a pid;
- a Cmd ``<cmd>:cancel:kill`` (``<cmd>.cancel.kill``) that the button starts, which sends
  SIGTERM to the watched process group.
Both are owned by the watched Cmd, so they go when it goes, even while this watcher is down.
Everything is written with server-side apply, so re-applying the same state changes nothing.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

GROUP, VERSION = "tilt.dev", "v1alpha1"
ROLE = "cancel.tilt.dev/role"
FIELD_MANAGER = "cancel-extension"

log = logging.getLogger("cancel")


def connect() -> client.CustomObjectsApi:
    """A client as this process is now: in a pod its token file, else its kubeconfig, read anew.

    The operator renews the token its kubeconfig names before it expires, so each watch (a few
    minutes long) reads it again and a watcher running for days keeps working.
    """
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.CustomObjectsApi()


def owner(cmd: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Cmd",
        "name": cmd["metadata"]["name"],
        "uid": cmd["metadata"]["uid"],
    }


def metadata(cmd: dict[str, Any], suffix: str, role: str) -> dict[str, Any]:
    """``<cmd>:<suffix>`` (object name ``<cmd>.<suffix>``), owned by the watched Cmd."""
    name = cmd["metadata"]["name"]
    return {
        "name": f"{name}.{suffix.replace(':', '.')}",
        "labels": {ROLE: role},
        "annotations": {"tilt.dev/name": f"{name}:{suffix}"},
        "ownerReferences": [owner(cmd)],
    }


def button_for(cmd: dict[str, Any], pid: int | None) -> dict[str, Any]:
    name = cmd["metadata"]["name"]
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "UIButton",
        "metadata": metadata(cmd, "cancel", "button"),
        "spec": {
            "text": "Cancel",
            "iconName": "cancel",
            "location": {"componentType": "Resource", "componentID": name},
            "disabled": pid is None,
        },
    }


def kill_cmd_for(cmd: dict[str, Any], pid: int, started_at: str) -> dict[str, Any]:
    name = cmd["metadata"]["name"]
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Cmd",
        "metadata": metadata(cmd, "cancel:kill", "kill"),
        "spec": {
            # The whole process group: a Cmd runs in a session of its own.
            "args": ["kill", "-TERM", "--", f"-{pid}"],
            # Only clicks after this process started may kill it.
            "startOn": {"uiButtons": [f"{name}.cancel"], "startAfter": started_at},
        },
    }


def apply(api: client.CustomObjectsApi, plural: str, obj: dict[str, Any]) -> None:
    api.patch_cluster_custom_object(
        GROUP,
        VERSION,
        plural,
        obj["metadata"]["name"],
        obj,
        field_manager=FIELD_MANAGER,
        force=True,
        _content_type="application/apply-patch+yaml",
    )


def delete(api: client.CustomObjectsApi, plural: str, name: str) -> None:
    try:
        api.delete_cluster_custom_object(GROUP, VERSION, plural, name)
    except ApiException as error:
        if error.status != 404:
            raise


def reconcile(api: client.CustomObjectsApi, event_type: str, cmd: dict[str, Any]) -> None:
    name = cmd["metadata"]["name"]
    if (cmd["metadata"].get("labels") or {}).get(ROLE):
        return  # the watcher itself and the kill Cmds: never cancel the canceller
    if event_type == "DELETED":
        delete(api, "uibuttons", f"{name}.cancel")
        delete(api, "cmds", f"{name}.cancel.kill")
        return
    running = (cmd.get("status") or {}).get("running") or {}
    pid = running.get("pid")
    apply(api, "uibuttons", button_for(cmd, pid))
    if pid:
        apply(api, "cmds", kill_cmd_for(cmd, pid, running["startedAt"]))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    log.info("watching Cmds")
    while True:
        api = connect()
        try:
            for event in watch.Watch().stream(
                api.list_cluster_custom_object, GROUP, VERSION, "cmds", timeout_seconds=300
            ):
                try:
                    reconcile(api, event["type"], event["object"])
                except ApiException as error:
                    log.warning("cannot update %s: %s", event["object"]["metadata"]["name"], error.reason)
        except (ApiException, OSError) as error:
            log.warning("watch ended (%s); watching again", error)
            time.sleep(1)


if __name__ == "__main__":
    main()
