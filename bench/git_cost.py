"""Benchmark 3: what the git store's safety costs against plain git, on a real https server.

The store never fetches into a live checkout: it resolves the ref with ``ls-remote``, then builds
a new tree with ``init`` + shallow ``fetch`` + ``checkout`` and renames it into place, with
hardened settings (``transfer.fsckObjects`` among them). This compares its first fetch with the
``git clone --depth 1`` a user would type, and its unchanged re-check with ``git ls-remote``,
both against the integration tests' ``git http-backend`` behind TLS. And what listing a repo's
extensions (``status.extensions``) adds to a first fetch, on a repo of 5,000 directories.
"""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

from tests.integration.gitserver import GitServer

from bench.common import Row, median, percentile, seconds, timed
from tilt_operator.config import Settings
from tilt_operator.gitstore import catalogue
from tilt_operator.gitstore.store import GitStore

FILES = 300
COMMITS = 20
FIRST_FETCH_TARGET = 1.3
RECHECK_TARGET = 1.5
SCAN_DIRECTORIES = 5000
SCAN_TARGET = 0.2
_WORDS = ("load", "extension", "button", "cmd", "watch", "repo", "apply", "status", "ready", "path", "args", "tilt")


def _text(rng: random.Random, lines: int) -> str:
    return "".join(" ".join(rng.choices(_WORDS, k=10)) + "\n" for _ in range(lines))


def repo_files(rng: random.Random) -> dict[str, str]:
    """An extensions repo of the usual shape: a directory per extension, a Tiltfile and helpers in each."""
    files = {}
    for index in range(FILES):
        extension, kind = divmod(index, 6)
        name = ("Tiltfile", "README.md", "test.sh", "lib/helpers.py", "lib/watch.py", "docs/usage.md")[kind]
        files[f"ext{extension:02d}/{name}"] = _text(rng, rng.randint(20, 80))
    return files


def make_repo(server: GitServer) -> str:
    """A repo of ``FILES`` files and ``COMMITS`` commits, each commit touching a few files."""
    rng = random.Random(9)
    files = repo_files(rng)
    work = server.create_repo("extensions", files)
    for number in range(1, COMMITS):
        changed = {path: _text(rng, 30) for path in rng.sample(sorted(files), 15)}
        server.commit(work, changed, f"change {number}")
    return server.url("extensions")


def _plain_git(*args: str, cwd: Path | None = None) -> None:
    """git as a user runs it, minus the machine's git config and GIT_* variables (GIT_SSL_CAINFO would override -c)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env |= {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0"}
    result = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {result.stderr.strip()}")


def _objects(checkout: Path) -> int:
    out = subprocess.run(["git", "count-objects", "-v"], cwd=checkout, capture_output=True, text=True, check=True)
    counts = dict(line.split(": ") for line in out.stdout.splitlines())
    return int(counts["count"]) + int(counts["in-pack"])


def run(workdir: Path, *, quick: bool) -> list[Row]:
    repetitions = 5 if quick else 10
    server = GitServer(workdir / "server")
    server.start()
    try:
        url = make_repo(server)
        ca = f"http.sslCAInfo={server.ca_bundle}"
        first, clone, recheck, ls_remote = [], [], [], []
        fetched_objects, request_counts = [], set()
        for attempt in range(repetitions + 1):
            # A store per attempt: each first fetch starts from an empty data dir, as a new operator does.
            store = GitStore(Settings(data_dir=workdir / f"store-{attempt}", git_ca_bundle=server.ca_bundle))
            dest = workdir / f"clone-{attempt}"
            fetch = lambda store=store: store.sync(url, "")  # noqa: E731
            cloning = lambda dest=dest: _plain_git("-c", ca, "clone", "--quiet", "--depth", "1", url, str(dest))  # noqa: E731
            # Alternate the order, so neither always runs with warmer caches.
            pairs = [(first, fetch), (clone, cloning)]
            for samples, call in pairs if attempt % 2 else reversed(pairs):
                elapsed, _ = timed(call)
                samples.append(elapsed)
            checkout = store.sync(url, "")
            objects = _objects(checkout.path)
            before = len(server.requests)
            elapsed, again = timed(lambda store=store: store.sync(url, ""))
            sync_requests = tuple(request.split("?")[0] for request in server.requests[before:])
            recheck.append(elapsed)
            assert not again.fetched
            fetched_objects.append(_objects(again.path) - objects)
            before = len(server.requests)
            ls_remote.append(timed(lambda: _plain_git("-c", ca, "ls-remote", url))[0])
            request_counts.add((sync_requests, tuple(r.split("?")[0] for r in server.requests[before:])))
        # The first attempt warmed the server's disk cache and Python's imports; it is not counted.
        first, clone, recheck, ls_remote = (samples[1:] for samples in (first, clone, recheck, ls_remote))
        fetches, scans, listed = _catalogue_cost(server, workdir, repetitions)
    finally:
        server.stop()
    rows = _rows(first, clone, recheck, ls_remote, fetched_objects, request_counts, repetitions)
    return [*rows, *_catalogue_rows(fetches, scans, listed)]


def _catalogue_cost(server: GitServer, workdir: Path, repetitions: int) -> tuple[list[float], list[float], int]:
    """First fetches of a repo of ``SCAN_DIRECTORIES`` extension directories, and the scan of each checkout."""
    files = {f"group-{index // 100:02}/ext-{index:04}/Tiltfile": "" for index in range(SCAN_DIRECTORIES)}
    server.create_repo("many", files)
    url = server.url("many")
    fetches, scans = [], []
    for attempt in range(repetitions + 1):
        store = GitStore(Settings(data_dir=workdir / f"many-{attempt}", git_ca_bundle=server.ca_bundle))
        elapsed, checkout = timed(lambda store=store: store.sync(url, ""))
        fetches.append(elapsed)
        elapsed, scanned = timed(lambda checkout=checkout: catalogue.scan(checkout.path))
        scans.append(elapsed)
    return fetches[1:], scans[1:], len(scanned.extensions)


def _catalogue_rows(fetches: list[float], scans: list[float], listed: int) -> list[Row]:
    name = "3 git cost"
    ratio = median(scans) / median(fetches)
    return [
        Row(
            name,
            f"listing the extensions of a {SCAN_DIRECTORIES:,}-directory repo",
            seconds(median(scans)),
            seconds(percentile(scans, 95)),
        ),
        Row(
            name,
            "what listing adds to the first fetch (medians)",
            f"{ratio:.0%}",
            "",
            f"<= {SCAN_TARGET:.0%}",
            ratio <= SCAN_TARGET,
            note=f"catalogue.scan of a fresh checkout of {SCAN_DIRECTORIES:,} extension directories (it stops "
            f"at its cap, {listed} listed) against GitStore.sync's first fetch of it "
            f"({seconds(median(fetches))} median). The ExtensionRepo reconciler scans once per new commit.",
        ),
    ]


def _rows(first, clone, recheck, ls_remote, fetched_objects, request_counts, repetitions) -> list[Row]:
    name = "3 git cost"
    first_ratio = median(first) / median(clone)
    recheck_ratio = median(recheck) / median(ls_remote)
    [(sync_requests, ls_requests)] = request_counts if len(request_counts) == 1 else [((), ())]
    same_requests = bool(sync_requests) and sync_requests == ls_requests
    repo = f"a repo of {FILES} files and {COMMITS} commits on the local https git server"
    return [
        Row(name, "first fetch: GitStore.sync", seconds(median(first)), seconds(percentile(first, 95))),
        Row(name, "first fetch: git clone --depth 1", seconds(median(clone)), seconds(percentile(clone, 95))),
        Row(
            name,
            "first fetch ratio (medians)",
            f"{first_ratio:.2f}x",
            "",
            f"<= {FIRST_FETCH_TARGET}x",
            first_ratio <= FIRST_FETCH_TARGET,
            note=f"{repetitions} first fetches of {repo}, each into an empty data dir, against `git clone "
            "--depth 1` of the same repo (order alternated; one warm-up pair not counted). The store runs "
            "ls-remote, init, remote add, a shallow fetch with transfer.fsckObjects, checkout, rev-parse "
            "and a rename into place.",
        ),
        Row(name, "unchanged re-check: GitStore.sync", seconds(median(recheck)), seconds(percentile(recheck, 95))),
        Row(name, "unchanged re-check: git ls-remote", seconds(median(ls_remote)), seconds(percentile(ls_remote, 95))),
        Row(
            name,
            "re-check ratio (medians)",
            f"{recheck_ratio:.2f}x",
            "",
            f"<= {RECHECK_TARGET}x",
            recheck_ratio <= RECHECK_TARGET,
            note="GitStore.sync of a checkout that already holds the remote's commit (it returns "
            "fetched=False) against `git ls-remote` of the same URL.",
        ),
        Row(
            name,
            "objects fetched by an unchanged re-check",
            str(max(fetched_objects)),
            "",
            "0",
            max(fetched_objects) == 0,
            note="Objects in the checkout after the re-check minus before (`git count-objects -v`), in every "
            "repetition; and the HTTP requests the git server saw: "
            + (
                f"the re-check made exactly the requests `git ls-remote` makes ({', '.join(sync_requests)})."
                if same_requests
                else f"the re-check made {sync_requests}, ls-remote {ls_requests}."
            ),
        ),
    ]
