"""Benchmark 7: the dashboard with 500 resources, in a real browser (Debian's chromium, driven by Playwright).

- How soon the page is interactive: from navigation until all 500 resources are listed and
  painted, and from a click on one until its overview is painted, both on the page's own clock.
- How soon a status change shows: from just before a Cmd's status is written on the API server
  until the open page has redrawn the resource with its new status (the page stamps the moment
  with a MutationObserver, on the same clock).
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.integration.browser import chromium

from bench.common import Row, median, percentile, seconds
from bench.harness import custom_api, kubectl_apply, manifest, obj, running_cluster, running_operator
from tilt_operator import timestamps

GROUP, VERSION = "tilt.dev", "v1alpha1"
RESOURCES = 500
INTERACTIVE_TARGET, CHANGE_TARGET = 1.0, 0.2

# Sets window.shown to a promise of the wall-clock time (ms) at which the row of `name` shows `status`.
_WATCH = """([name, status]) => {
    window.shown = new Promise(resolve => {
        const done = () => {
            const row = document.querySelector(`#resources [data-resource="${name}"] .row`);
            if (!row || !row.classList.contains(`status-${status}`)) return;
            observer.disconnect();
            resolve(Date.now());
        };
        const observer = new MutationObserver(done);
        observer.observe(document.querySelector("#resources"), {subtree: true, childList: true, attributes: true});
        done();
    });
}"""


# Resolves with the page's clock (ms since navigation) once every resource is listed and a frame
# has been painted with them.
_LISTED = """n => new Promise(resolve => {
    const check = () => document.querySelectorAll("#resources li").length === n
        ? requestAnimationFrame(() => setTimeout(() => resolve(performance.now())))
        : requestAnimationFrame(check);
    check();
})"""
# Sets window.answered to a promise of the ms from the next click until the overview of `name` is painted.
_ANSWER = """name => {
    window.answered = new Promise(resolve => {
        document.addEventListener("click", event => {
            const clicked = event.timeStamp;
            const painted = () => requestAnimationFrame(() => setTimeout(() => resolve(performance.now() - clicked)));
            const drawn = () => document.querySelector("#heading .title")?.textContent === name;
            if (drawn()) return painted();
            const observer = new MutationObserver(() => drawn() && (observer.disconnect(), painted()));
            observer.observe(document.querySelector("#heading"), {subtree: true, childList: true, characterData: true});
        }, {capture: true, once: true});
    });
}"""


def _load(browser, url: str) -> tuple[float, float]:
    """Seconds from navigation until the list is painted, and from a click on a resource until its overview is."""
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    try:
        page.goto(f"{url}/")
        listed = page.evaluate(_LISTED, RESOURCES) / 1000
        first = page.locator("#resources li").first
        name = first.get_attribute("data-resource")
        page.evaluate(_ANSWER, name)
        first.click()
        return listed, page.evaluate("window.answered") / 1000
    finally:
        page.close()


def _changes(browser, api, url: str, rounds: int) -> list[float]:
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    delays = []
    try:
        page.goto(f"{url}/")
        page.wait_for_function(f"document.querySelectorAll('#resources li').length === {RESOURCES}")
        for round_ in range(rounds + 1):
            name = f"bench-{round_ * 7 % RESOURCES}"
            page.evaluate(_WATCH, [name, "ok"])
            written = time.time()
            status = {"terminated": {"exitCode": 0, "reason": "exited successfully", "finishedAt": timestamps.now()}}
            api.patch_cluster_custom_object_status(GROUP, VERSION, "cmds", name, {"status": status})
            delays.append(page.evaluate("window.shown") / 1000 - written)
        return delays[1:]  # the first round warms up
    finally:
        page.close()


def run(workdir: Path, *, quick: bool) -> list[Row]:
    rounds = 10 if quick else 40
    with (
        running_cluster(workdir / "cluster") as cluster,
        running_operator(cluster, workdir / "operator") as operator,
        chromium() as browser,
    ):
        api = custom_api(cluster)
        # Process execution is off: each Cmd waits, and this benchmark writes their statuses itself.
        cmds = [obj("Cmd", f"bench-{i}", {"args": ["true"]}) for i in range(RESOURCES)]
        kubectl_apply(cluster, manifest(cmds))
        url = operator.web_url
        loads, clicks = zip(*(_load(browser, url) for _ in range(3 if quick else 10)), strict=True)
        changes = _changes(browser, api, url, rounds)
    name = "7 dashboard"
    return [
        Row(
            name,
            f"page interactive with {RESOURCES} resources",
            seconds(median(loads)),
            seconds(percentile(loads, 95)),
            f"< {INTERACTIVE_TARGET:g} s",
            percentile(loads, 95) < INTERACTIVE_TARGET,
            note=f"{len(loads)} loads of the dashboard in headless chromium with {RESOURCES} Cmds in the cluster, on "
            "the page's clock: from navigation until every resource is listed and a frame is painted with them.",
        ),
        Row(
            name,
            "a click on a resource → its overview painted",
            seconds(median(clicks)),
            seconds(percentile(clicks, 95)),
            note="On the same loads, just after: from the click event until the page has drawn the resource's "
            "overview and painted it (its log starts streaming meanwhile).",
        ),
        Row(
            name,
            "a status change shows on an open page",
            seconds(median(changes)),
            seconds(percentile(changes, 95)),
            f"p95 < {CHANGE_TARGET * 1000:.0f} ms",
            percentile(changes, 95) < CHANGE_TARGET,
            note=f"{rounds} status writes of one of the {RESOURCES} Cmds (one warm-up not counted), from just before "
            "the write until the page has redrawn its row: the watch event, the operator's view rebuilt for "
            f"all {RESOURCES} resources, the server-sent event, and the redraw.",
        ),
    ]
