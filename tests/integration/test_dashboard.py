"""The dashboard in a real browser, against a real API server and operator, as a person uses it.

These tests have a cluster and an operator of their own, started fresh, so the page shows only
what they create, as it shows a new user's cluster (and the README's screenshot, taken here).
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from playwright.sync_api import Browser, Page, expect

from tests.conftest import eventually
from tests.integration.browser import chromium
from tests.integration.conftest import REPO, Operator
from tests.integration.objects import Api, button, extension, obj, repo, tiltfile
from tests.integration.test_logs import cli_env
from tests.integration.test_tiltfile import terminated, write
from tilt_operator.devcluster import DevCluster, ensure_binaries
from tilt_operator.devcluster.dev import install_api
from tilt_operator.processes import alive

SCREENSHOT = REPO / "docs" / "dashboard.png"
WAIT = 60_000  # ms: an extension's first run includes fetching its repo and starting its watcher


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Operator, Api]]:
    with DevCluster(ensure_binaries(), tmp_path_factory.mktemp("dashboard-cluster")) as cluster:
        install_api(cluster)
        operator = Operator(
            cluster,
            tmp_path_factory.mktemp("dashboard-operator"),
            env={"PATH": f"{cluster.binaries.directory}{os.pathsep}{os.environ['PATH']}"},
            args=("--exec",),
        )
        operator.start()
        try:
            api = Api(client.CustomObjectsApi(config.new_client_from_config(config_file=str(cluster.kubeconfig))))
            yield operator, api
        finally:
            operator.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    opened = context.new_page()
    dialogs: list[str] = []
    errors: list[str] = []
    opened.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not dialogs, f"the page ran script it was given: {dialogs}"
    assert not errors, f"the page's script failed: {errors}"


def open_dashboard(page: Page, operator: Operator, resource: str | None = None) -> None:
    page.goto(f"{operator.web_url}/" + (f"#/r/{resource}" if resource else ""))
    expect(page.locator("#banner")).to_be_hidden()  # connected
    # A marker that a reload would lose: every check after this one happens without a reload.
    page.evaluate("window.notReloaded = true")


def not_reloaded(page: Page) -> bool:
    return bool(page.evaluate("window.notReloaded === true"))


def sh(name: str, script: str, **metadata: Any) -> dict[str, Any]:
    return obj("Cmd", name, {"args": ["sh", "-c", script]}, **metadata)


def test_a_sleep_cmd_is_cancelled_with_its_button_in_the_page(fresh: tuple[Operator, Api], page: Page) -> None:
    operator, api = fresh
    api.create("extensionrepos", repo("examples", f"file://{REPO}/examples/extensions"))
    api.create("extensions", extension("cancel", "examples", "cancel"))
    open_dashboard(page, operator, "sleeper")
    api.create("cmds", sh("sleeper", "echo serving on :8000; sleep 600"))

    sidebar = page.locator("#resources [data-resource=sleeper]")
    expect(sidebar).to_contain_text("running", timeout=WAIT)
    cancel = page.locator("#resource-buttons [data-button='sleeper.cancel'] .ui-button")
    expect(cancel).to_be_enabled(timeout=WAIT)
    expect(cancel).to_have_text("cancelCancel")  # the icon's ligature, then the label
    expect(page.locator("#log")).to_contain_text("serving on :8000")
    expect(page.locator("#resources [data-resource=cancel]")).to_contain_text("run succeeded", timeout=WAIT)
    pid = api.status("cmds", "sleeper")["running"]["pid"]
    page.screenshot(path=SCREENSHOT)

    cancel.click()
    expect(page.locator("#heading .pill")).to_have_text("error")
    expect(page.locator("#heading .meta")).to_contain_text("terminated: killed by SIGTERM")
    expect(sidebar).to_contain_text("terminated: killed by SIGTERM")
    assert not_reloaded(page)
    assert api.status("cmds", "sleeper")["terminated"]["reason"] == "killed by SIGTERM"
    eventually(lambda: not alive(pid), what="the sleep process to be gone")


def test_a_tiltfile_error_is_shown_with_its_file_and_line(
    fresh: tuple[Operator, Api], page: Page, tmp_path: Path
) -> None:
    operator, api = fresh
    path = write(tmp_path / "Tiltfile", 'print("hello")\n\nlocal_resource("web", serve_cmd=undefined_name)\n')
    api.create("tiltfiles", tiltfile("broken", str(path)))
    open_dashboard(page, operator, "broken")
    error = page.locator("#details .error-box")
    expect(error.locator(".where")).to_have_text(f"{path}:3", timeout=WAIT)
    expect(error.locator(".message")).to_have_text("undefined: undefined_name")
    expect(page.locator("#heading .pill")).to_have_text("error")
    expect(page.locator("#resources [data-resource=broken] .row")).to_have_class("row status-error selected")


def test_the_log_pane_shows_a_cmds_output_as_it_comes(fresh: tuple[Operator, Api], page: Page, tmp_path: Path) -> None:
    operator, api = fresh
    go = tmp_path / "go"
    # printf, so that the command line (which the log shows first) does not hold the words looked for.
    script = (
        f"printf 'fi%s\\n' rst; while [ ! -e {go} ]; do sleep 0.05; done; printf 'sec%s %s\\n' ond '<b>not bold</b>'"
    )
    api.create("cmds", sh("printer", script))
    open_dashboard(page, operator, "printer")
    log = page.locator("#log")
    expect(log).to_contain_text("first", timeout=WAIT)
    expect(log).not_to_contain_text("second")
    go.touch()
    expect(log).to_contain_text("second <b>not bold</b>")  # the line's own text: no markup
    assert page.locator("#log b").count() == 0
    assert not_reloaded(page)
    # All logs: every resource's lines, each under its resource's name.
    page.locator("#all-logs").click()
    line = page.locator("#log .line", has_text="second")
    expect(line.locator(".prefix")).to_have_text("printer")


def test_global_confirmation_and_input_buttons_write_what_a_click_writes(
    fresh: tuple[Operator, Api], page: Page
) -> None:
    operator, api = fresh
    inputs = [
        {"name": "message", "label": "Message", "text": {"placeholder": "why?"}},
        {"name": "env", "label": "Environment", "choice": {"choices": ["dev", "staging", "prod"]}},
        {"name": "force", "bool": {"defaultValue": False}},
        {"name": "token", "hidden": {"value": "h1dden"}},
    ]
    api.create("uibuttons", button("refresh", "Refresh", iconName="refresh"))
    api.create("uibuttons", button("wipe", "Wipe", requiresConfirmation=True))
    api.create("uibuttons", button("deploy", "Deploy", inputs=inputs))
    open_dashboard(page, operator)
    posted: list[str] = []
    page.on("request", lambda request: request.method == "POST" and posted.append(request.url))

    page.locator("#globals [data-button=refresh] .ui-button").click()
    eventually(lambda: api.status("uibuttons", "refresh").get("lastClickedAt"), what="the click")
    assert "inputs" not in api.status("uibuttons", "refresh")

    wipe = page.locator("#globals [data-button=wipe] .ui-button")
    wipe.click()
    expect(wipe).to_have_text("Confirm Wipe")  # armed: nothing sent yet
    assert not [url for url in posted if "/wipe/" in url]
    assert "lastClickedAt" not in api.status("uibuttons", "wipe")
    wipe.click()
    eventually(lambda: api.status("uibuttons", "wipe").get("lastClickedAt"), what="the confirmed click")
    expect(wipe).to_have_text("Wipe")

    deploy = page.locator("#globals [data-button=deploy]")
    deploy.locator(".toggle").click()
    expect(deploy.locator("input[name=message]")).to_have_attribute("placeholder", "why?")
    deploy.locator("input[name=message]").fill("ship <it>")
    deploy.locator("select[name=env]").select_option("prod")
    deploy.locator(".ui-button").click()
    written = eventually(lambda: api.status("uibuttons", "deploy").get("inputs"), what="the inputs")
    assert written == [
        {"name": "message", "text": {"value": "ship <it>"}},
        {"name": "env", "choice": {"value": "prod"}},
        {"name": "force", "bool": {"value": False}},
        {"name": "token", "hidden": {"value": "h1dden"}},
    ]


class OtherOrigin:
    """Another web site on this machine, with a page that tries to click: a web server on another port."""

    def __init__(self, page_html: str) -> None:
        html = page_html.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(html)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_click_from_another_origin_is_refused(fresh: tuple[Operator, Api], page: Page) -> None:
    operator, api = fresh
    api.create("uibuttons", button("target", "Target"))
    click_url = f"{operator.web_url}/api/buttons/target/click"
    # A form post needs no script and no preflight: the classic cross-site request forgery.
    other = OtherOrigin(
        f'<form id="f" method="post" action="{click_url}" enctype="text/plain">'
        '<input name=\'{"inputs": {}, "x": "\' value=\'"}\'><button id="go">Win a prize</button></form>'
    )
    try:
        page.goto(other.url)
        with page.expect_response(click_url) as form_post:
            page.locator("#go").click()
        assert form_post.value.status == 403
        page.goto(other.url)
        # A script's request that needs no preflight: refused, and its answer is not even handed
        # to the other page (Cross-Origin-Resource-Policy).
        with page.expect_event("requestfailed", lambda request: request.url == click_url) as fetched:
            page.evaluate(
                """url => fetch(url, {method: "POST", mode: "no-cors", body: '{"inputs": {}}',
                    headers: {"Content-Type": "text/plain"}}).catch(() => null)""",
                click_url,
            )
        assert "ERR_BLOCKED_BY_RESPONSE" in str(fetched.value.failure)
    finally:
        other.close()
    # The page itself can click it: the refusals were for the origin, not the button.
    open_dashboard(page, operator)
    assert "lastClickedAt" not in api.status("uibuttons", "target")
    page.locator("#globals [data-button=target] .ui-button").click()
    eventually(lambda: api.status("uibuttons", "target").get("lastClickedAt"), what="the page's own click")
    # And the token the page got is needed: the same request without it is refused.
    answer = page.evaluate(
        "url => fetch(url, {method: 'POST', body: '{}', headers: {'Content-Type': 'application/json'}})"
        ".then(r => r.status)",
        click_url,
    )
    assert answer == 403


def test_markup_an_extension_writes_is_shown_as_text(fresh: tuple[Operator, Api], page: Page) -> None:
    operator, api = fresh
    markup = "<img src=x onerror=alert(1)>"
    svg = '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(2)"><script>alert(3)</script><circle r="5"/></svg>'
    api.create("uibuttons", button("xss", markup, iconSVG=svg))
    api.create("cmds", sh("shouter", "echo '<script>alert(4)</script><img src=y onerror=alert(5)>'"))
    open_dashboard(page, operator, "shouter")
    shown = page.locator("#globals [data-button=xss] .ui-button")
    expect(shown).to_have_text(markup)
    expect(shown.locator("img.icon")).to_have_attribute(
        "src", f"data:image/svg+xml;base64,{base64.b64encode(svg.encode()).decode()}"
    )
    expect(page.locator("#log")).to_contain_text("<script>alert(4)</script>", timeout=WAIT)
    assert page.locator("img[src=x], img[src=y], #log script").count() == 0
    # The page fixture fails the test if any dialog opened.


def test_every_open_page_follows_changes_and_one_that_loses_the_server_reconnects(
    fresh: tuple[Operator, Api], page: Page, browser: Browser
) -> None:
    operator, api = fresh
    open_dashboard(page, operator)
    second = browser.new_page()
    try:
        second.goto(f"{operator.web_url}/")
        api.create("cmds", sh("watched", "echo hi"))
        for shown in (page, second):
            expect(shown.locator("#resources [data-resource=watched]")).to_contain_text(
                "exited successfully", timeout=WAIT
            )
    finally:
        second.close()

    operator.stop()
    expect(page.locator("#banner")).to_have_text("Lost the connection to the operator; reconnecting…")
    operator.start()
    expect(page.locator("#banner")).to_be_hidden(timeout=WAIT)
    api.create("cmds", sh("after-restart", "echo back"))
    expect(page.locator("#resources [data-resource=after-restart]")).to_be_visible(timeout=WAIT)
    assert not_reloaded(page)


def test_kubectl_tilt_ui_finds_the_operators_dashboard(fresh: tuple[Operator, Api]) -> None:
    operator, _ = fresh
    shown = subprocess.run(
        ["kubectl-tilt", "ui", "--no-browser"],
        env=cli_env(operator.cluster, operator),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (shown.returncode, shown.stdout, shown.stderr) == (0, f"dashboard: {operator.web_url}/\n", "")


def test_the_catalogue_installs_and_uninstalls_an_extension(fresh: tuple[Operator, Api], page: Page) -> None:
    operator, api = fresh
    api.create("extensionrepos", repo("shelf", f"file://{REPO}/examples/extensions"))
    page.goto(f"{operator.web_url}/#/catalogue")
    expect(page.locator("#banner")).to_be_hidden()
    offer = page.locator("#offers tr[data-offer='shelf/cancel-sh']")
    expect(offer).to_be_visible(timeout=WAIT)
    expect(page.locator("#log")).to_be_hidden()  # the catalogue takes the logs' place
    page.locator("#catalogue-filter").fill("shelf/cancel-s")
    expect(page.locator("#offers tr[data-offer]")).to_have_count(1)

    offer.locator("button.install").click()
    expect(offer.locator(".installed")).to_have_text("cancel-sh")
    installed = api.get("extensions", "cancel-sh")
    assert installed is not None
    assert installed["spec"] == {"repoName": "shelf", "repoPath": "cancel-sh"}

    uninstall = offer.locator("button.uninstall")
    uninstall.click()
    expect(uninstall).to_have_text("deleteConfirm uninstall cancel-sh")  # the first click arms
    assert api.get("extensions", "cancel-sh") is not None
    uninstall.click()
    expect(offer.locator("button.install")).to_be_visible()
    eventually(lambda: api.get("extensions", "cancel-sh") is None, what="the Extension to be deleted")


BUTTONS_LIBRARY = """\
# A cmd_button in the manner of Tilt's uibutton extension, written for this test.
def text_input(name, label=''):
    return v1alpha1.ui_input_spec(name=name, label=label, text=v1alpha1.ui_text_input_spec())

def bool_input(name, label='', true_string=None, false_string=None):
    spec = v1alpha1.ui_bool_input_spec(true_string=true_string, false_string=false_string)
    return v1alpha1.ui_input_spec(name=name, label=label, bool=spec)

def cmd_button(name, resource, argv, text, inputs=[]):
    v1alpha1.ui_button(name=name, text=text, inputs=inputs, annotations={'tilt.dev/resource': resource},
                       location=v1alpha1.ui_component_location(component_type='Resource', component_id=resource))
    v1alpha1.cmd(name='btn-' + name, args=argv, dir=os.getcwd(), annotations={'tilt.dev/resource': resource},
                 start_on=v1alpha1.start_on_spec(ui_buttons=[name]))
"""


def test_a_cmd_button_runs_its_command_with_the_values_a_person_typed(
    fresh: tuple[Operator, Api], page: Page, tmp_path: Path
) -> None:
    operator, api = fresh
    write(tmp_path / "buttons.star", BUTTONS_LIBRARY)
    path = write(
        tmp_path / "Tiltfile",
        "load('./buttons.star', 'cmd_button', 'text_input', 'bool_input')\n"
        "local_resource('greeter', serve_cmd='echo ready; sleep 600')\n"
        "cmd_button('greet', resource='greeter', text='Greet',\n"
        "           argv=['sh', '-c', 'printf \"greeting %s, loud=%s\\\\n\" \"$NAME\" \"$LOUD\"'],\n"
        "           inputs=[text_input('NAME', 'Name'), bool_input('LOUD', 'Loud', 'yes', 'no')])\n",
    )
    api.create("tiltfiles", tiltfile("greeting", str(path)))
    open_dashboard(page, operator, "greeter")
    expect(page.locator("#log")).to_contain_text("ready", timeout=WAIT)

    greet = page.locator("#resource-buttons [data-button=greet]")
    greet.locator(".toggle").click()
    greet.locator("input[name=NAME]").fill("Ada Lovelace")
    greet.locator("input[name=LOUD]").check()
    greet.locator(".ui-button").click()

    expect(page.locator("#log")).to_contain_text("greeting Ada Lovelace, loud=yes", timeout=WAIT)
    assert not_reloaded(page)
    api.delete("tiltfiles", "greeting")


def test_a_manual_local_resource_runs_from_its_trigger_button_and_shows_its_links(
    fresh: tuple[Operator, Api], page: Page, tmp_path: Path
) -> None:
    operator, api = fresh
    path = write(
        tmp_path / "Tiltfile",
        "local_resource('Build Site', 'echo built >> built.txt', trigger_mode=TRIGGER_MODE_MANUAL, auto_init=False,\n"
        "    links=[link('http://localhost:8000/', 'site'), 'ftp://example.com/'])\n",
    )
    api.create("tiltfiles", tiltfile("site", str(path)))
    assert "error" not in terminated(api, "site")
    open_dashboard(page, operator, "Build Site")
    expect(page.locator("#heading .meta")).to_contain_text("waiting for a click on build-site.trigger", timeout=WAIT)
    links = page.locator("#details dd.links a")
    expect(links).to_have_count(1)  # a link that is not http or https is not shown
    expect(links).to_have_text("site")
    expect(links).to_have_attribute("href", "http://localhost:8000/")
    assert not (tmp_path / "built.txt").exists()

    trigger = page.locator("#resource-buttons [data-button='build-site.trigger'] .ui-button")
    expect(trigger).to_contain_text("Trigger")
    trigger.click()
    expect(page.locator("#heading .pill")).to_have_text("ok", timeout=WAIT)
    assert (tmp_path / "built.txt").read_text() == "built\n"
    assert not_reloaded(page)


def test_a_k8s_resource_shows_each_object_it_deployed_with_its_health(
    fresh: tuple[Operator, Api], page: Page, tmp_path: Path
) -> None:
    """A KubernetesApply is a resource of its own on the page, a row per object it deployed, with
    the links and port forwards k8s_resource recorded."""
    operator, api = fresh
    watch = {
        "apiVersion": "tilt.dev/v1alpha1",
        "kind": "FileWatch",
        "metadata": {"name": "deployed-watch"},
        "spec": {"watchedPaths": [str(tmp_path)]},
    }
    open_dashboard(page, operator, "deployed")
    api.create(
        "kubernetesapplys",
        obj(
            "KubernetesApply",
            "deployed",
            {
                "yaml": json.dumps(watch),
                "portForwardTemplateSpec": {"forwards": [{"localPort": 8080, "containerPort": 80, "name": "web"}]},
            },
            annotations={
                "tilt.dev/resource": "deployed",
                "tilt.dev/links": json.dumps([{"url": "https://example.com/docs", "name": "docs"}]),
            },
        ),
    )
    sidebar = page.locator("#resources [data-resource=deployed]")
    expect(sidebar).to_contain_text("all Current", timeout=WAIT)
    expect(page.locator("#heading .pill")).to_have_text("ok")
    expect(page.locator("[data-object='ka/deployed']")).to_contain_text("1 object applied as tilt-extension")
    expect(page.locator("[data-object='filewatch/deployed-watch']")).to_contain_text("Current")
    link = page.locator("#details dd.links a")
    expect(link).to_have_text("docs")
    expect(link).to_have_attribute("href", "https://example.com/docs")
    expect(page.locator("#details dl.facts")).to_contain_text(
        "localhost:8080 → 80 (web) (recorded; the operator forwards no port)"
    )
    assert not_reloaded(page)
