"""reconcile_repo's decisions, with a fake store that counts its calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tilt_operator import reasons
from tilt_operator.gitstore.credentials import Credentials
from tilt_operator.gitstore.git import RemoteUnreachable
from tilt_operator.gitstore.store import Checkout
from tilt_operator.reconcilers import extensionrepo as repos


@dataclass
class FakeStore:
    checkout: Checkout | None = None
    failure: Exception | None = None
    on_disk: Checkout | None = None
    syncs: list[tuple[str, str]] = field(default_factory=list)

    def sync(self, url: str, ref: str, credentials: Credentials | None = None) -> Checkout:
        self.syncs.append((url, ref))
        if self.failure:
            raise self.failure
        assert self.checkout
        return self.checkout

    def current(self, url: str, ref: str, credentials: Credentials | None = None) -> Checkout | None:
        return self.on_disk


COMMIT = "a" * 40


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(None, 300.0), ("", 300.0), ("5m", 300.0), ("1h30m", 5400.0), ("250ms", 0.25), ("1.5s", 1.5)],
)
def test_intervals_read_go_durations(text, seconds):
    assert repos.parse_interval(text, 300.0) == seconds


def test_a_synced_checkout_is_ready_with_its_commit(tmp_path: Path):
    store = FakeStore(checkout=Checkout(tmp_path, COMMIT, fetched=True))
    outcome = repos.reconcile_repo({"url": "https://example.com/r", "ref": "main"}, store)
    assert outcome.ready
    assert outcome.reason == reasons.CHECKOUT_READY
    assert outcome.fields["checkoutRef"] == COMMIT
    assert outcome.fields["path"] == str(tmp_path)
    assert store.syncs == [("https://example.com/r", "main")]


def test_an_invalid_url_never_reaches_the_store():
    store = FakeStore()
    outcome = repos.reconcile_repo({"url": "https://-uexploit"}, store)
    assert not outcome.ready
    assert not outcome.retry
    assert outcome.reason == reasons.URL_INVALID
    assert outcome.fields["error"].startswith("invalid url: ")
    assert store.syncs == []


def test_an_invalid_ref_never_reaches_the_store():
    store = FakeStore()
    outcome = repos.reconcile_repo({"url": "https://example.com/r", "ref": "--upload-pack=x"}, store)
    assert outcome.reason == reasons.REF_INVALID
    assert store.syncs == []


def test_a_fetch_failure_with_a_checkout_on_disk_serves_it_stale(tmp_path: Path):
    store = FakeStore(failure=RemoteUnreachable("cannot reach x"), on_disk=Checkout(tmp_path, COMMIT, False))
    outcome = repos.reconcile_repo({"url": "https://example.com/r"}, store)
    assert outcome.ready
    assert outcome.reason == reasons.CHECKOUT_STALE
    assert outcome.fields["staleReason"] == "fetch: cannot reach x"
    assert outcome.fields["checkoutRef"] == COMMIT
    assert "error" not in outcome.fields


def test_a_fetch_failure_with_nothing_to_serve_is_retried():
    store = FakeStore(failure=RemoteUnreachable("cannot reach x"))
    outcome = repos.reconcile_repo({"url": "https://example.com/r"}, store)
    assert not outcome.ready
    assert outcome.retry
    assert outcome.fields == {"error": "fetch: cannot reach x"}


def test_a_file_repo_is_its_directory(tmp_path: Path):
    outcome = repos.reconcile_repo({"url": f"file://{tmp_path}"}, FakeStore(), file_roots=[tmp_path.parent])
    assert outcome.ready
    assert outcome.fields["path"] == str(tmp_path)
    assert "checkoutRef" not in outcome.fields


@pytest.mark.parametrize("key", ["ref", "gitSubpath"])
def test_a_file_repo_refuses_git_only_fields(tmp_path: Path, key: str):
    outcome = repos.reconcile_repo({"url": f"file://{tmp_path}", key: "x"}, FakeStore(), file_roots=[Path("/")])
    assert not outcome.ready
    assert not outcome.retry
    assert outcome.fields["error"] == f"invalid spec: {key} is not supported for file:// repos; remove it"


@pytest.mark.parametrize("roots", [[], ["/nowhere"], ["{tmp}/sub"]])
def test_a_file_repo_outside_the_operators_file_roots_is_refused(tmp_path: Path, roots: list[str]):
    (tmp_path / "sub").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "outside", target_is_directory=True)
    (tmp_path / "outside").mkdir()
    allowed = [Path(root.format(tmp=tmp_path)) for root in roots]
    for url in (f"file://{tmp_path}", f"file://{tmp_path}/link"):
        outcome = repos.reconcile_repo({"url": url}, FakeStore(), file_roots=allowed)
        assert (outcome.ready, outcome.reason, outcome.retry) == (False, "URLNotAllowed", False)
        assert outcome.fields["error"].startswith("invalid url: file:// repos are allowed only under")


def test_a_symlink_inside_a_file_root_that_leads_out_of_it_is_refused(tmp_path: Path):
    (tmp_path / "root").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "root" / "link").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    allowed = [tmp_path / "root"]
    assert repos.reconcile_repo({"url": f"file://{tmp_path}/root"}, FakeStore(), file_roots=allowed).ready
    outcome = repos.reconcile_repo({"url": f"file://{tmp_path}/root/link"}, FakeStore(), file_roots=allowed)
    assert outcome.reason == "URLNotAllowed"


def _extension(root: Path, path: str) -> None:
    (root / path).mkdir(parents=True)
    (root / path / "Tiltfile").write_text("")
    (root / path / "README.md").write_text(f"# {path}\n\nThe {Path(path).name} extension.\n")


def test_a_checkout_lists_its_extensions_below_its_git_subpath(tmp_path: Path):
    _extension(tmp_path, "exts/cancel")
    _extension(tmp_path, "other/skipped")
    store = FakeStore(checkout=Checkout(tmp_path, COMMIT, fetched=True))
    fields = repos.reconcile_repo({"url": "https://example.com/r", "gitSubpath": "exts"}, store).fields
    assert fields["extensions"] == [{"name": "cancel", "path": "cancel", "description": "The cancel extension."}]
    assert (fields["extensionCount"], fields["extensionsNote"]) == (1, None)


def test_the_catalogue_is_scanned_once_per_commit(tmp_path: Path):
    _extension(tmp_path, "cancel")
    store = FakeStore(checkout=Checkout(tmp_path, COMMIT, fetched=True))
    known = repos.reconcile_repo({"url": "https://example.com/r"}, store).fields
    _extension(tmp_path, "added")  # a checkout never changes under its commit; this proves the scan is skipped
    assert repos.reconcile_repo({"url": "https://example.com/r"}, store, known).fields["extensionCount"] == 1
    store.checkout = Checkout(tmp_path, "b" * 40, fetched=True)
    assert repos.reconcile_repo({"url": "https://example.com/r"}, store, known).fields["extensionCount"] == 2


def test_a_file_repo_is_scanned_every_time(tmp_path: Path):
    _extension(tmp_path, "cancel")
    spec = {"url": f"file://{tmp_path}"}
    known = repos.reconcile_repo(spec, FakeStore(), file_roots=[tmp_path]).fields
    _extension(tmp_path, "added")
    rescanned = repos.reconcile_repo(spec, FakeStore(), known, file_roots=[tmp_path]).fields
    assert [e["path"] for e in rescanned["extensions"]] == [
        "added",
        "cancel",
    ]


def test_every_catalogue_field_is_cleared_when_nothing_is_served():
    status = repos.repo_status(
        repos.RepoOutcome({"error": "x"}), {"metadata": {"generation": 1}}, {"extensionCount": 3}, None
    )
    assert (status["extensions"], status["extensionCount"], status["extensionsNote"]) == (None, None, None)


def _repo(url: str) -> dict:
    return {"metadata": {"generation": 2}, "spec": {"url": url}}


SERVED = {"path": "/data/tilt_modules/h/r@main", "url": "https://h/r", "checkoutRef": "c" * 40, "extensionCount": 2}


@pytest.mark.parametrize(
    "outcome",
    [
        repos.RepoOutcome({"error": "fetch: refused"}, reason=reasons.FETCH_FAILED, retry=True),
        repos.RepoOutcome({"error": "fetch: denied"}, reason=reasons.AUTHENTICATION_FAILED),
        repos.RepoOutcome({"error": "invalid ref"}, reason=reasons.REF_INVALID),
        repos.RepoOutcome({"error": "no Secret"}, reason=reasons.SECRET_NOT_FOUND),
    ],
    ids=["fetch", "authentication", "new-ref", "secret"],
)
def test_a_failure_of_the_same_url_keeps_the_checkout_it_served(outcome: repos.RepoOutcome):
    """Flux's consumers key on the artifact: what the repo served stays served, Ready says what failed."""
    status = repos.repo_status(outcome, _repo("https://h/r"), {**SERVED, "observedGeneration": 1}, None)
    assert {key: status[key] for key in SERVED} == SERVED
    assert status["error"] == outcome.fields["error"]
    assert status["conditions"][0]["status"] == "False"


def test_a_changed_url_or_a_spec_that_cannot_work_serves_nothing():
    failed = repos.RepoOutcome({"error": "fetch: refused"}, reason=reasons.FETCH_FAILED, retry=True)
    assert repos.repo_status(failed, _repo("https://h/other"), SERVED, None)["path"] is None
    invalid = repos.RepoOutcome({"error": "not allowed"}, reason=reasons.URL_NOT_ALLOWED)
    assert repos.repo_status(invalid, _repo("https://h/r"), SERVED, None)["path"] is None


def test_a_checkout_says_which_url_it_was_made_from(tmp_path: Path):
    outcome = repos.reconcile_repo({"url": f"file://{tmp_path}"}, FakeStore(), file_roots=(tmp_path,))
    assert outcome.fields["url"] == f"file://{tmp_path}"
