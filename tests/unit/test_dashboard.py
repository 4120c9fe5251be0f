"""The dashboard without a cluster or a browser: what it shows, what reaches open pages, and who may click."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.integration.objects import button, extension, obj, repo, tiltfile
from tests.unit.fakes import FakeCluster
from tilt_operator.logstore import LogStore
from tilt_operator.web import security, view
from tilt_operator.web.live import Live
from tilt_operator.web.server import WebServer


def cmd(name: str, *, resource: str | None = None, status: dict[str, Any] | None = None) -> dict[str, Any]:
    annotations = {"tilt.dev/resource": resource} if resource else {}
    result = obj("Cmd", name, {"args": ["sleep", "60"]}, annotations=annotations)
    if status is not None:
        result["status"] = status
    return result


RUNNING = {"running": {"pid": 42, "startedAt": "2026-12-01T10:00:00.000000Z"}}
FAILED = {"terminated": {"pid": 42, "exitCode": 143, "reason": "killed by SIGTERM"}}
DONE = {"terminated": {"pid": 42, "exitCode": 0, "reason": "exited successfully"}}


def with_status(body: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    return {**body, "status": status}


def resource_button(name: str, component: str, **spec: Any) -> dict[str, Any]:
    return button(name, "Cancel", location={"componentType": "Resource", "componentID": component}, **spec)


# What the page shows.


def test_a_tiltfile_error_names_its_file_and_line() -> None:
    failed = with_status(
        tiltfile("broken", "/src/Tiltfile"),
        {"terminated": {"error": "/src/lib.star:12:5: undefined: x", "reasons": ["initial"]}},
    )
    shown = view.build(FakeCluster(failed).cache())["resources"]["broken"]
    assert shown["status"] == "error"
    assert shown["type"] == "tiltfile"
    assert shown["error"] == {
        "text": "/src/lib.star:12:5: undefined: x",
        "file": "/src/lib.star",
        "line": 12,
        "message": "undefined: x",
    }
    assert shown["reasons"] == ["initial"]


def test_an_error_that_names_no_place_is_shown_whole() -> None:
    assert view.error_view("stopped by button x") == {
        "text": "stopped by button x",
        "file": None,
        "line": None,
        "message": "stopped by button x",
    }


def test_an_extension_shows_as_its_tiltfile_with_its_repo_and_commit() -> None:
    fetched = with_status(repo("examples", "https://git.example/ext.git", ref="main"), {"checkoutRef": "a" * 40})
    ran = with_status(
        tiltfile("cancel", "/data/repos/x/cancel/Tiltfile", labels={"tilt.dev/extension": "cancel"}),
        {"terminated": {"reasons": ["initial"]}},
    )
    watcher = cmd("cancel.watcher", resource="cancel", status=RUNNING)
    cluster = FakeCluster(fetched, extension("cancel", "examples", "cancel"), ran, watcher)
    shown = view.build(cluster.cache())["resources"]
    assert list(shown) == ["cancel"]  # the watcher is the Tiltfile's, as Tilt groups what a Tiltfile registers
    cancel = shown["cancel"]
    assert cancel["status"] == "running"  # the run succeeded, and its watcher runs
    assert cancel["summary"] == "run succeeded; cmds: 1 running"
    assert cancel["source"] == {
        "extension": "cancel",
        "repo": "examples",
        "path": "cancel",
        "url": "https://git.example/ext.git",
        "ref": "main",
        "commit": "a" * 40,
    }
    assert [o["ref"] for o in cancel["objects"]] == ["tf/cancel", "cmd/cancel.watcher"]


def test_an_extension_that_cannot_load_shows_its_error_before_it_has_a_tiltfile() -> None:
    broken = with_status(extension("ext", "missing", "x"), {"error": 'extension repo "missing" not found'})
    shown = view.build(FakeCluster(broken).cache())["resources"]["ext"]
    assert (shown["type"], shown["status"], shown["error"]["message"]) == (
        "tiltfile",
        "error",
        'extension repo "missing" not found',
    )


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([RUNNING, DONE], "running"),
        ([DONE, DONE], "ok"),
        ([None, DONE], "pending"),
        ([RUNNING, FAILED], "error"),
    ],
)
def test_a_local_resource_shows_the_worst_of_its_cmds(statuses: list[Any], expected: str) -> None:
    cmds = [cmd(f"web-{i}", resource="web", status=status) for i, status in enumerate(statuses)]
    shown = view.build(FakeCluster(*cmds).cache())["resources"]["web"]
    assert (shown["type"], shown["status"]) == ("local_resource", expected)


def test_a_cmd_of_its_own_is_a_resource_and_says_how_it_ended() -> None:
    shown = view.build(FakeCluster(cmd("sleeper", status=FAILED)).cache())["resources"]["sleeper"]
    assert (shown["type"], shown["status"], shown["summary"]) == ("cmd", "error", "terminated: killed by SIGTERM")
    assert shown["objects"][0]["command"] == "sleep 60"


def test_a_k8s_resource_shows_what_it_deployed_and_how_each_object_is() -> None:
    deploy = obj("KubernetesApply", "web", {"yaml": "..."}, annotations={"tilt.dev/resource": "web"}) | {
        "status": {
            "lastApplyTime": "2026-12-01T10:00:00.000000Z",
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "Progressing",
                    "message": "Deployment n/web: readyReplicas: 0/1",
                }
            ],
            "inventory": [
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "namespace": "n",
                    "name": "web",
                    "health": "Current",
                    "message": "exists",
                },
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "namespace": "n",
                    "name": "web",
                    "health": "InProgress",
                    "message": "readyReplicas: 0/1",
                },
            ],
        }
    }
    shown = view.build(FakeCluster(deploy).cache())["resources"]["web"]
    assert (shown["type"], shown["status"]) == ("k8s_resource", "pending")
    assert shown["summary"] == "Deployment n/web: readyReplicas: 0/1"
    assert [(o["ref"], o["status"], o["summary"]) for o in shown["objects"]] == [
        ("ka/web", "pending", "Deployment n/web: readyReplicas: 0/1"),
        ("service/n/web", "ok", "Current: exists"),
        ("deployment/n/web", "pending", "InProgress: readyReplicas: 0/1"),
    ]
    failed = deploy | {
        "status": {
            "conditions": [{"type": "Ready", "status": "False", "reason": "ApplyFailed", "message": "forbidden"}]
        }
    }
    assert view.build(FakeCluster(failed).cache())["resources"]["web"]["status"] == "error"


def test_buttons_sit_on_the_resource_their_component_names_in_tilts_spelling_or_the_objects() -> None:
    cluster = FakeCluster(
        cmd("my-app"),
        resource_button("tilt-name", "my_app"),
        resource_button("object-name", "my-app"),
        resource_button("nowhere", "no-such-resource"),
        button("deploy", "Deploy", iconName="rocket_launch", requiresConfirmation=True),
    )
    shown = view.build(cluster.cache())
    assert [b["name"] for b in shown["resources"]["my-app"]["buttons"]] == ["object-name", "tilt-name"]
    assert [(b["name"], b["iconName"], b["requiresConfirmation"]) for b in shown["globals"]] == [
        ("deploy", "rocket_launch", True)
    ]


def test_a_buttons_inputs_are_described_for_the_page() -> None:
    inputs = [
        {"name": "env", "label": "Environment", "choice": {"choices": ["dev", "prod"]}},
        {"name": "why", "text": {"placeholder": "reason", "defaultValue": "x"}},
        {"name": "dry", "bool": {"defaultValue": True}},
        {"name": "secret", "hidden": {"value": "v"}},
    ]
    shown = view.build(FakeCluster(button("go", inputs=inputs)).cache())["globals"][0]["inputs"]
    assert [(i["name"], i["label"], i["type"], i["default"]) for i in shown] == [
        ("env", "Environment", "choice", "dev"),
        ("why", "why", "text", "x"),
        ("dry", "dry", "bool", True),
        ("secret", "secret", "hidden", None),
    ]
    assert shown[0]["choices"] == ["dev", "prod"]
    assert shown[1]["placeholder"] == "reason"


# What reaches open pages.


def test_pages_get_only_what_changed_once_per_window() -> None:
    async def scenario() -> None:
        cluster = FakeCluster(cmd("a", status=RUNNING), cmd("b", status=RUNNING))
        builds = 0

        def counting(cache: Any) -> view.View:
            nonlocal builds
            builds += 1
            return view.build(cache)

        live = Live(cluster.cache(), build=counting)
        with live.subscribe() as (snapshot, page):
            assert set(snapshot["resources"]) == {"a", "b"}
            cluster.put(cmd("a", status=DONE))
            cluster.put(cmd("c"))
            for _ in range(50):  # a burst of events: one rebuild
                live.changed()
            change = await asyncio.wait_for(page.next(), 1)
            assert set(change["resources"]) == {"a", "c"}
            assert change["resources"]["a"]["status"] == "ok"
            assert builds == 2
            del cluster.objects[("Cmd", "c")]
            live.changed()
            assert (await asyncio.wait_for(page.next(), 1))["resources"] == {"c": None}

    asyncio.run(scenario())


def test_with_no_page_open_an_event_costs_no_rebuild() -> None:
    async def scenario() -> None:
        builds = 0

        def counting(cache: Any) -> view.View:
            nonlocal builds
            builds += 1
            return view.build(cache)

        live = Live(FakeCluster().cache(), build=counting)
        for _ in range(100):
            live.changed()
        await asyncio.sleep(0.05)
        assert builds == 0

    asyncio.run(scenario())


# Who may click.


@pytest.mark.parametrize(
    ("header", "allowed"),
    [
        ("127.0.0.1:10350", True),
        ("localhost:8080", True),
        ("[::1]:10350", True),
        ("evil.example:10350", False),
        ("127.0.0.1.evil.example", False),
        (None, False),
    ],
)
def test_only_loopback_hosts_are_answered(header: str | None, allowed: bool) -> None:
    assert security.host_allowed(header) is allowed


@pytest.mark.parametrize(
    ("method", "origin", "site", "allowed"),
    [
        ("GET", "http://evil.example", "cross-site", True),  # reads are refused by the browser's own rules
        ("POST", "http://127.0.0.1:10350", "same-origin", True),
        ("POST", None, None, True),  # not a browser: the token decides
        ("POST", "http://evil.example", "cross-site", False),
        ("POST", "http://localhost:10350", "same-site", False),  # another origin on this machine
        ("POST", None, "cross-site", False),
        ("POST", "null", None, False),
    ],
)
def test_state_changes_from_other_origins_are_refused(method: str, origin: str | None, site: str | None, allowed: bool):
    assert security.same_origin(method, "127.0.0.1:10350", origin, site) is allowed


def test_tokens_are_per_session_and_die_with_the_process() -> None:
    tokens, other = security.Tokens(), security.Tokens()
    first, second = tokens.issue(), tokens.issue()
    assert first != second
    assert tokens.valid(first)
    assert tokens.valid(second)
    assert not other.valid(first)
    assert not tokens.valid(first[:-1] + ("0" if first[-1] != "0" else "1"))
    assert not tokens.valid("")
    assert not tokens.valid(None)


class Served:
    def __init__(self, server: WebServer, session: aiohttp.ClientSession, cluster: FakeCluster) -> None:
        self.server, self.session, self.cluster = server, session, cluster

    async def token(self) -> str:
        async with self.session.get(f"{self.server.url}/api/events") as response:
            async for line in response.content:
                if line.startswith(b"data: "):
                    return str(json.loads(line[6:])["token"])
        raise AssertionError("no snapshot")

    async def request(self, method: str, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
        async with self.session.request(method, f"{self.server.url}{path}", json=body, headers=headers) as response:
            return response.status, await response.json()

    async def click(self, name: str, body: Any, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        url = f"{self.server.url}/api/buttons/{name}/click"
        async with self.session.post(url, json=body, headers=headers) as response:
            return response.status, await response.json()


async def served(tmp_path: Any, *objects: dict[str, Any]) -> AsyncIterator[Served]:
    cluster = FakeCluster(*objects)
    server = WebServer(host="127.0.0.1", port=0, cache=cluster.cache(), logs=LogStore(tmp_path), client=cluster)
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            yield Served(server, session, cluster)
    finally:
        await server.stop()


def test_a_click_needs_the_pages_token_and_its_origin(tmp_path: Any) -> None:
    async def scenario() -> None:
        async for web in served(tmp_path, button("go", inputs=[{"name": "env", "choice": {"choices": ["a", "b"]}}])):
            token = await web.token()
            own = {security.TOKEN_HEADER: token, "Origin": web.server.url, "Sec-Fetch-Site": "same-origin"}
            body = {"inputs": {"env": "b"}}
            assert (await web.click("go", body, {}))[0] == 403  # no token
            assert (await web.click("go", body, {**own, security.TOKEN_HEADER: "x.y"}))[0] == 403
            foreign = {**own, "Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
            status, answer = await web.click("go", body, foreign)
            assert (status, answer) == (403, {"error": "refused: the request comes from another origin"})
            assert "status" not in web.cluster.objects[("UIButton", "go")]
            assert (await web.click("go", {"inputs": {"env": "c"}}, own)) == (
                400,
                {"error": "input env is one of a, b, not 'c'"},
            )
            assert (await web.click("nope", body, own))[0] == 404
            status, answer = await web.click("go", body, own)
            assert status == 200
            written = web.cluster.objects[("UIButton", "go")]["status"]
            assert written == {
                "lastClickedAt": answer["lastClickedAt"],
                "inputs": [{"name": "env", "choice": {"value": "b"}}],
            }

    asyncio.run(scenario())


def test_a_disabled_button_cannot_be_clicked(tmp_path: Any) -> None:
    async def scenario() -> None:
        async for web in served(tmp_path, button("off", disabled=True)):
            status, _ = await web.click("off", {}, {security.TOKEN_HEADER: await web.token()})
            assert status == 409
            assert "status" not in web.cluster.objects[("UIButton", "off")]

    asyncio.run(scenario())


def test_the_page_comes_with_a_policy_that_runs_only_its_own_script(tmp_path: Any) -> None:
    async def scenario() -> None:
        async for web in served(tmp_path):
            async with web.session.get(f"{web.server.url}/") as response:
                assert response.status == 200
                policy = response.headers["Content-Security-Policy"]
                assert "script-src 'self'" in policy
                assert "unsafe-inline" not in policy
                assert "frame-ancestors 'none'" in policy
                assert '<script src="/static/app.js"' in await response.text()
            async with web.session.get(f"{web.server.url}/static/MaterialIcons-Regular.woff2") as response:
                assert response.status == 200
                assert len(await response.read()) > 100_000
            async with web.session.get(f"{web.server.url}/", headers={"Host": "rebound.example:10350"}) as response:
                assert response.status == 403

    asyncio.run(scenario())


def test_pages_are_served_from_the_cache_without_a_request_to_the_api_server(tmp_path: Any) -> None:
    async def scenario() -> None:
        async for web in served(tmp_path, cmd("a", status=RUNNING), button("go")):
            for _ in range(3):
                await web.token()  # a page connects and gets its snapshot
            async with web.session.get(f"{web.server.url}/") as response:
                assert response.status == 200
            assert web.cluster.calls == {}

    asyncio.run(scenario())


# The catalogue.


def offering(tmp_path: Any, *paths: str) -> dict[str, Any]:
    """A repo whose checkout at tmp_path/checkout offers ``paths``, each with a README."""
    root = tmp_path / "checkout"
    for path in paths:
        (root / path).mkdir(parents=True)
        (root / path / "Tiltfile").write_text("")
        (root / path / "README.md").write_text(f"# {path}\n\nAbout {path}.\n")
    entries = [{"name": path.rsplit("/", 1)[-1].replace("_", "-"), "path": path, "description": ""} for path in paths]
    return with_status(repo("shelf", "https://git.example/shelf.git"), {"path": str(root), "extensions": entries})


def test_the_catalogue_says_what_is_installed(tmp_path: Any) -> None:
    cluster = FakeCluster(offering(tmp_path, "cancel", "k8s/cert_manager"), extension("mine", "shelf", "./cancel/"))
    shown = view.build(cluster.cache())["catalogue"]
    assert shown["repos"] == [
        {"name": "shelf", "url": "https://git.example/shelf.git", "commit": None, "error": None, "note": None}
    ]
    assert [(e["repo"], e["path"], e["name"], e["installed"]) for e in shown["extensions"]] == [
        ("shelf", "cancel", "cancel", ["mine"]),
        ("shelf", "k8s/cert_manager", "cert-manager", []),
    ]


def test_install_and_uninstall_from_the_page(tmp_path: Any) -> None:
    async def scenario() -> None:
        async for web in served(tmp_path, offering(tmp_path, "cancel", "k8s/cert_manager")):
            own = {security.TOKEN_HEADER: await web.token()}

            async def call(method: str, path: str, body: Any = None, headers: Any = own) -> tuple[int, Any]:
                return await web.request(method, path, body, headers)  # noqa: B023 (awaited in this iteration)

            assert (await call("POST", "/api/extensions", {"repo": "shelf", "path": "cancel"}, {}))[0] == 403
            assert await call("POST", "/api/extensions", {"repo": "shelf", "path": "k8s/cert_manager"}) == (
                201,
                {"name": "cert-manager"},
            )
            created = web.cluster.objects[("Extension", "cert-manager")]
            assert created["spec"] == {"repoName": "shelf", "repoPath": "k8s/cert_manager"}
            status, answer = await call("POST", "/api/extensions", {"repo": "shelf", "path": "nope"})
            assert (status, answer["error"]) == (
                404,
                "repo shelf offers no extension at 'nope': `kubectl tilt search` lists them",
            )
            assert (await call("POST", "/api/extensions", {"repo": "gone", "path": "cancel"}))[0] == 404
            assert (await call("DELETE", "/api/extensions/cert-manager", headers={}))[0] == 403
            assert await call("DELETE", "/api/extensions/cert-manager") == (200, {"name": "cert-manager"})
            assert ("Extension", "cert-manager") not in web.cluster.objects
            assert (await call("DELETE", "/api/extensions/cert-manager"))[0] == 404

    asyncio.run(scenario())


def test_an_installed_name_is_not_taken_twice(tmp_path: Any) -> None:
    async def scenario() -> None:
        async for web in served(tmp_path, offering(tmp_path, "cancel"), extension("cancel", "other", "cancel")):
            url = f"{web.server.url}/api/extensions"
            headers = {security.TOKEN_HEADER: await web.token()}
            async with web.session.post(url, json={"repo": "shelf", "path": "cancel"}, headers=headers) as response:
                assert response.status == 409
                assert (await response.json())["error"] == (
                    'an Extension "cancel" exists already (from other/cancel): uninstall it first'
                )
            assert web.cluster.calls["create Extension"] == 0

    asyncio.run(scenario())


def test_a_readme_is_read_from_the_checkout_and_never_from_outside(tmp_path: Any) -> None:
    async def scenario() -> None:
        shelf = offering(tmp_path, "cancel", "linked")
        outside = tmp_path / "secret.md"
        outside.write_text("secret")
        readme = tmp_path / "checkout" / "linked" / "README.md"
        readme.unlink()
        readme.symlink_to(outside)
        async for web in served(tmp_path, shelf):
            async with web.session.get(f"{web.server.url}/api/catalogue/readme?repo=shelf&path=cancel") as response:
                assert await response.json() == {
                    "directory": str(tmp_path / "checkout" / "cancel"),
                    "readme": "# cancel\n\nAbout cancel.\n",
                }
            async with web.session.get(f"{web.server.url}/api/catalogue/readme?repo=shelf&path=linked") as response:
                assert (await response.json())["readme"] is None

    asyncio.run(scenario())
