"""The git store against repos made in tmp_path, with no network beyond the loopback interface.

``LocalStore`` lifts the https-only check so file:// remotes can stand in for a server; every
other part of the store (ls-remote, fetch, checkout, locks, temp dirs, environment) is the real one.
One test serves a repo over https on 127.0.0.1 with its own CA; a real git server over https
is the integration tests' job.
"""

from __future__ import annotations

import base64
import datetime
import errno
import functools
import logging
import os
import shutil
import ssl
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tilt_operator.config import Settings
from tilt_operator.gitstore import store as store_module
from tilt_operator.gitstore.credentials import Credentials
from tilt_operator.gitstore.environment import GIT_CONFIG
from tilt_operator.gitstore.git import (
    Call,
    EmptyRepository,
    Git,
    GitError,
    GitTimeout,
    RefNotFound,
    RemoteUnreachable,
    last_error_line,
    scrubbed,
)
from tilt_operator.gitstore.layout import old_checkout_dir
from tilt_operator.gitstore.store import Checkout, GitStore
from tilt_operator.gitstore.urls import InvalidRef, InvalidRepoURL
from tilt_operator.processes import alive


class RecordingGit(Git):
    """The real git runner, recording every command line whole (as ps would show it) and its environment."""

    def __init__(self, timeout: float) -> None:
        super().__init__(timeout)
        self.argv: list[list[str]] = []
        self.envs: list[dict[str, str]] = []

    def run(self, call: Call, args: list[str], cwd: Path, what: str) -> str:
        self.argv.append(args)
        self.envs.append(call.env)
        return super().run(call, args, cwd, what)


class LocalStore(GitStore):
    """Fetches from any URL, and records the git commands it runs."""

    config = GIT_CONFIG

    def __init__(self, settings: Settings) -> None:
        self.recorder = RecordingGit(settings.git_timeout)
        super().__init__(settings, git=self.recorder, config=self.config)

    def _remote(self, url: str) -> str:
        return url

    @property
    def commands(self) -> list[str]:
        """The git subcommands run, in order; clearing it forgets them."""
        return _Subcommands(self.recorder.argv)

    @property
    def argv(self) -> list[list[str]]:
        return self.recorder.argv

    @property
    def envs(self) -> list[dict[str, str]]:
        return self.recorder.envs


class _Subcommands(list[str]):
    """The first word of each recorded command line; ``clear()`` clears the record itself."""

    def __init__(self, argv: list[list[str]]) -> None:
        super().__init__(args[0] for args in argv)
        self._argv = argv

    def clear(self) -> None:
        self._argv.clear()
        super().clear()


class ProtocolV0Store(LocalStore):
    """Speaks git protocol v0, whose servers refuse commits by id unless configured to allow them."""

    config = (*GIT_CONFIG, ("protocol.version", "0"))


class Remote:
    """A repository standing in for the server, with helpers to give it history."""

    def __init__(self, path: Path, *, bare: bool = False) -> None:
        self.path = path
        self.url = path.as_uri()
        path.mkdir(parents=True)
        self.git("init", "--quiet", "--initial-branch=main", *(["--bare"] if bare else []))

    def git(self, *args: str) -> str:
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(self.path),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_AUTHOR_NAME": "test",
            "GIT_AUTHOR_EMAIL": "test@example.com",
            "GIT_COMMITTER_NAME": "test",
            "GIT_COMMITTER_EMAIL": "test@example.com",
        }
        done = subprocess.run(["git", *args], cwd=self.path, env=env, check=True, capture_output=True, text=True)
        return done.stdout.strip()

    def commit(self, content: str) -> str:
        (self.path / "Tiltfile").write_text(content)
        self.git("add", "Tiltfile")
        self.git("commit", "--quiet", "-m", content)
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", git_timeout=30)


@pytest.fixture
def store(settings: Settings) -> LocalStore:
    return LocalStore(settings)


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    return Remote(tmp_path / "remote")


def tiltfile(checkout: Checkout) -> str:
    return (checkout.path / "Tiltfile").read_text()


def temp_dirs(checkout_dir: Path) -> list[str]:
    return [p.name for p in checkout_dir.parent.iterdir() if p.name.startswith(f".{checkout_dir.name}.tmp-")]


def test_unpinned_follows_the_default_branch(store: LocalStore, remote: Remote) -> None:
    on_main = remote.commit("main 1")
    remote.git("checkout", "--quiet", "-b", "dev")
    on_dev = remote.commit("dev 1")
    remote.git("checkout", "--quiet", "main")

    first = store.sync(remote.url, "")
    assert (first.commit, first.fetched, tiltfile(first)) == (on_main, True, "main 1")

    remote.git("checkout", "--quiet", "dev")  # the server's default branch is now dev
    moved = store.sync(remote.url, "")
    assert (moved.path, moved.commit, tiltfile(moved)) == (first.path, on_dev, "dev 1")


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("release", "release 1"),
        ("refs/heads/release", "release 1"),
        ("v1", "v1 content"),
        ("v1-annotated", "v1 content"),
        ("first", "first"),
    ],
)
def test_a_pinned_ref_checks_out_that_ref(store: LocalStore, remote: Remote, ref: str, expected: str) -> None:
    commits = {"first": remote.commit("first")}
    commits["v1 content"] = remote.commit("v1 content")
    remote.git("tag", "v1")
    remote.git("tag", "-a", "v1-annotated", "-m", "annotated")
    remote.git("checkout", "--quiet", "-b", "release")
    commits["release 1"] = remote.commit("release 1")
    remote.git("checkout", "--quiet", "main")
    remote.commit("main moves on")

    ref = commits["first"] if ref == "first" else ref
    pinned = store.sync(remote.url, ref)
    assert (pinned.commit, tiltfile(pinned)) == (commits[expected], expected)
    assert store.remote_head(remote.url, ref) == commits[expected]


def test_a_tag_wins_over_a_branch_of_the_same_name_as_in_git(store: LocalStore, remote: Remote) -> None:
    tagged = remote.commit("tagged")
    remote.git("tag", "same")
    remote.git("branch", "same")
    remote.git("checkout", "--quiet", "same")
    remote.commit("branch moved")
    assert store.sync(remote.url, "same").commit == tagged


def test_an_unchanged_remote_is_checked_but_not_fetched(store: LocalStore, remote: Remote) -> None:
    first = remote.commit("one")
    assert store.sync(remote.url, "").fetched

    store.commands.clear()
    again = store.sync(remote.url, "")
    assert (again.commit, again.fetched) == (first, False)
    assert "fetch" not in store.commands
    assert store.commands.count("ls-remote") == 1

    second = remote.commit("two")
    assert store.remote_head(remote.url, "") == second
    updated = store.sync(remote.url, "")
    assert (updated.commit, updated.fetched, tiltfile(updated)) == (second, True, "two")
    assert temp_dirs(updated.path) == []


def test_a_commit_pin_on_disk_needs_no_network(store: LocalStore, remote: Remote, tmp_path: Path) -> None:
    commit = remote.commit("pinned")
    store.sync(remote.url, commit)
    remote.path.rename(tmp_path / "gone")

    store.commands.clear()
    again = store.sync(remote.url, commit.upper())  # hex case does not matter
    assert (again.commit, again.fetched) == (commit, False)
    assert "ls-remote" not in store.commands


def test_a_commit_pin_falls_back_when_the_server_refuses_commit_ids(settings: Settings, remote: Remote) -> None:
    store = ProtocolV0Store(settings)
    old = remote.commit("old")
    remote.commit("new")

    pinned = store.sync(remote.url, old)
    assert (pinned.commit, tiltfile(pinned)) == (old, "old")
    assert store.commands.count("fetch") == 2

    missing = "1" * 40
    with pytest.raises(RefNotFound, match=f"^commit {missing} not found in {remote.url}$"):
        store.sync(remote.url, missing)


def test_two_refs_of_one_url_never_share_a_working_tree(store: LocalStore, remote: Remote) -> None:
    remote.commit("one")
    remote.git("tag", "v1")
    remote.commit("two")

    tagged, head = store.sync(remote.url, "v1"), store.sync(remote.url, "")
    assert tagged.path != head.path
    assert (tiltfile(tagged), tiltfile(head)) == ("one", "two")
    assert store.checkout_dir(remote.url, "v1") == tagged.path


def test_a_missing_ref_is_named_in_the_error(store: LocalStore, remote: Remote) -> None:
    remote.commit("one")
    with pytest.raises(RefNotFound) as excinfo:
        store.sync(remote.url, "v9")
    assert str(excinfo.value) == f"ref 'v9' not found in {remote.url}"

    with pytest.raises(RefNotFound, match="use the full 40-character commit id"):
        store.sync(remote.url, remote.git("rev-parse", "--short", "HEAD"))


def test_an_empty_repository_says_so(store: LocalStore, tmp_path: Path) -> None:
    empty = Remote(tmp_path / "empty.git", bare=True)
    with pytest.raises(EmptyRepository, match=f"^repository {empty.url} is empty"):
        store.sync(empty.url, "")
    assert not store.checkout_dir(empty.url, "").exists()


def test_an_unreachable_remote_says_why(store: LocalStore, tmp_path: Path) -> None:
    url = (tmp_path / "nowhere").as_uri()
    with pytest.raises(RemoteUnreachable) as excinfo:
        store.sync(url, "")
    message = str(excinfo.value)
    assert message.startswith(f"cannot reach {url}: ")
    assert "\n" not in message
    assert "Traceback" not in message


def test_a_long_url_is_quoted_clipped_even_where_git_quotes_it_whole(store: LocalStore, tmp_path: Path) -> None:
    url = (tmp_path / ("n" * 5000)).as_uri()
    with pytest.raises(RemoteUnreachable) as excinfo:
        store.sync(url, "")
    message = str(excinfo.value)
    assert len(message) < 800, message
    assert message.count("n" * 300) == 0, message
    assert "…" in message


def test_a_failed_update_keeps_the_old_checkout_whole(
    store: LocalStore, remote: Remote, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote.commit("one")
    first = store.sync(remote.url, "")
    remote.commit("two")
    monkeypatch.setattr(store.recorder, "_fetch", half_written_then_failing)

    with pytest.raises(RemoteUnreachable, match="connection reset"):
        store.sync(remote.url, "")
    assert store.current(remote.url, "") == Checkout(first.path, first.commit, fetched=False)
    assert tiltfile(first) == "one"
    assert temp_dirs(first.path) == []


def test_leftovers_of_a_crash_are_removed_and_no_half_checkout_appears(
    store: LocalStore, remote: Remote, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote.commit("one")
    path = store.checkout_dir(remote.url, "")
    for leftover in ("abc_123x", "old-0badf00d"):  # a crashed build, and a tree renamed aside
        (path.parent / f".{path.name}.tmp-{leftover}" / "sub").mkdir(parents=True)

    with monkeypatch.context() as patch:
        patch.setattr(store.recorder, "_fetch", half_written_then_failing)
        with pytest.raises(RemoteUnreachable):
            store.sync(remote.url, "")
    assert not path.exists()
    assert temp_dirs(path) == []
    assert store.current(remote.url, "") is None

    assert tiltfile(store.sync(remote.url, "")) == "one"


def test_a_sync_leaves_the_temp_trees_of_another_refs_checkout_alone(store: LocalStore, remote: Remote) -> None:
    remote.commit("one")
    remote.git("tag", "v1")
    path = store.checkout_dir(remote.url, "v1")
    other = store.checkout_dir(remote.url, "v1.tmp-x")  # its temp trees start as v1's do
    in_flight = other.parent / f".{other.name}.tmp-abcdefgh"
    in_flight.mkdir(parents=True)
    assert in_flight.name.startswith(f".{path.name}.tmp-")
    store.sync(remote.url, "v1")
    assert in_flight.is_dir()


def test_a_process_killed_mid_fetch_leaves_the_old_checkout_and_a_leftover_the_next_sync_removes(
    store: LocalStore, remote: Remote, settings: Settings
) -> None:
    remote.commit("one")
    first = store.sync(remote.url, "")
    remote.commit("two")
    code = (
        "import os, signal\n"
        "from pathlib import Path\n"
        "from tilt_operator.config import Settings\n"
        "from tilt_operator.gitstore.git import Git\n"
        "from tilt_operator.gitstore.store import GitStore\n"
        "class Store(GitStore):\n"
        "    def _remote(self, url): return url\n"
        "class Dying(Git):\n"
        "    def _fetch(self, call, url, ref, what, dest):\n"
        "        (dest / 'Tiltfile').write_text('half')\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        f"Store(Settings(data_dir=Path({str(settings.data_dir)!r})), git=Dying(60)).sync({remote.url!r}, '')\n"
    )
    killed = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert killed.returncode == -9

    assert store.current(remote.url, "") == Checkout(first.path, first.commit, fetched=False)
    assert tiltfile(first) == "one"
    assert len(temp_dirs(first.path)) == 1
    assert tiltfile(store.sync(remote.url, "")) == "two"
    assert temp_dirs(first.path) == []


def half_written_then_failing(call: Call, url: str, ref: str, what: str, dest: Path) -> str:
    """A fetch that dies after writing part of the tree, as a crash or dropped connection would."""
    (dest / "Tiltfile").write_text("half")
    raise RemoteUnreachable(f"cannot reach {url}: connection reset")


def test_a_checkout_without_git_metadata_is_rebuilt(store: LocalStore, remote: Remote) -> None:
    commit = remote.commit("one")
    checkout = store.sync(remote.url, "")
    (checkout.path / ".git" / "HEAD").unlink()
    assert store.current(remote.url, "") is None
    assert store.sync(remote.url, "") == Checkout(checkout.path, commit, fetched=True)


def test_a_sync_waits_for_another_process_holding_the_lock(store: LocalStore, remote: Remote) -> None:
    commit = remote.commit("one")
    path = store.checkout_dir(remote.url, "")
    path.parent.mkdir(parents=True)
    holder = hold_lock_in_another_process(path.parent / f".{path.name}.lock")

    result: list[Checkout] = []
    syncing = threading.Thread(target=lambda: result.append(store.sync(remote.url, "")))
    syncing.start()
    syncing.join(timeout=1)
    assert syncing.is_alive()
    assert store.commands == []  # nothing ran while the lock was held

    holder.communicate(input="")  # releases the lock
    syncing.join(timeout=30)
    assert [c.commit for c in result] == [commit]


def hold_lock_in_another_process(lock_file: Path) -> subprocess.Popen[str]:
    code = (
        "import fcntl, sys\n"
        f"lock = open({str(lock_file)!r}, 'a')\n"
        "fcntl.flock(lock, fcntl.LOCK_EX)\n"
        "print('locked', flush=True)\n"
        "sys.stdin.read()\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    assert holder.stdout.readline() == "locked\n"
    return holder


def test_concurrent_syncs_of_one_checkout_fetch_once(store: LocalStore, remote: Remote) -> None:
    commit = remote.commit("one")
    results: list[Checkout] = []
    threads = [threading.Thread(target=lambda: results.append(store.sync(remote.url, ""))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert {c.commit for c in results} == {commit}
    assert sorted(c.fetched for c in results) == [False, False, False, True]


@pytest.mark.parametrize(
    "url",
    [
        "https://h/../../etc",
        "https://../../x",
        "https://h/%2e%2e/%2e%2e/etc",
        "https://h/" + "a/" * 2000,
        "https://" + "h" * 3000 + "/r",
        "https://[::1/x",
        "../../../etc",
        "",
        "https://user:pw@h/r",
    ],
)
def test_the_checkout_dir_stays_inside_the_data_dir(store: LocalStore, settings: Settings, url: str) -> None:
    path = store.checkout_dir(url, "main")
    root = (settings.data_dir / "tilt_modules").resolve()
    assert path.resolve().is_relative_to(root)
    assert path.name.endswith("@main")
    assert all(0 < len(part) <= 100 and not part.startswith(".") for part in path.relative_to(root).parts)
    assert "pw" not in str(path)


def test_nothing_is_written_outside_the_data_dir_and_the_callers_git_env_is_ignored(
    settings: Settings, remote: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    for name in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "TMPDIR"):
        monkeypatch.setenv(name, str(home))
    (home / ".gitconfig").write_text("[core]\n\thooksPath = /nonexistent\n")
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "not-a-repo"))
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", "'protocol.file.allow'='never'")
    commit = remote.commit("one")

    assert LocalStore(settings).sync(remote.url, "").commit == commit
    assert [p.name for p in home.iterdir()] == [".gitconfig"]


def test_git_reads_only_the_hardened_config(store: LocalStore, settings: Settings) -> None:
    config = store.recorder.run(Call(store._env), ["config", "--list", "--show-origin"], settings.data_dir, "config")
    origins = {line.split("\t")[0] for line in config.splitlines()}
    assert origins == {"command line:"}
    for setting in ("protocol.allow=never", "core.hookspath=/dev/null", "submodule.recurse=false"):
        assert setting in config
    assert "http.sslcainfo" not in config


def test_an_extra_ca_bundle_is_trusted_alongside_the_system_ones(tmp_path: Path) -> None:
    extra = tmp_path / "internal-ca.pem"
    extra.write_text("-----BEGIN CERTIFICATE-----\ninternal\n-----END CERTIFICATE-----\n")
    settings = Settings(data_dir=tmp_path / "data", git_ca_bundle=extra)
    store = LocalStore(settings)

    configured = store.recorder.run(
        Call(store._env), ["config", "--get", "http.sslCAInfo"], settings.data_dir, "config"
    ).strip()
    bundle = Path(configured)
    assert bundle.resolve().is_relative_to(settings.data_dir.resolve())
    combined = bundle.read_text()
    assert combined.endswith(extra.read_text())
    assert combined.count("BEGIN CERTIFICATE") > 1  # the system's CAs come first


def test_an_unreadable_ca_bundle_fails_at_start_up(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", git_ca_bundle=tmp_path / "missing.pem")
    with pytest.raises(GitError, match="cannot read the git CA bundle"):
        GitStore(settings)


def test_a_hung_git_is_killed_with_its_helpers(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_bin, pid_file = tmp_path / "bin", tmp_path / "helper.pid"
    fake_bin.mkdir()
    (fake_bin / "git").write_text(f"#!/bin/sh\nsleep 300 &\necho $! > {pid_file}\nwait\n")
    (fake_bin / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}:{os.environ['PATH']}")
    store = LocalStore(Settings(data_dir=settings.data_dir, git_timeout=0.5))

    with pytest.raises(GitTimeout, match=r"^git init timed out after 0\.5 s$"):
        store.sync("https://h/r", "")  # a first fetch: its first git call is the init
    assert wait_until(lambda: not alive(int(pid_file.read_text())))
    with pytest.raises(GitTimeout, match=r"^listing the refs of https://h/r timed out after 0\.5 s$"):
        store.remote_head("https://h/r", "")
    assert wait_until(lambda: not alive(int(pid_file.read_text())))


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.parametrize(
    ("url", "ref", "error"),
    [
        ("file:///", "", ValueError),
        ("ext::sh -c touch% /tmp/pwned", "", InvalidRepoURL),
        ("https://host/r", "--upload-pack=x", InvalidRef),
    ],
)
def test_the_public_api_fetches_only_valid_https(tmp_path: Path, url: str, ref: str, error: type[Exception]) -> None:
    store = GitStore(Settings(data_dir=tmp_path / "data"))
    with pytest.raises(error):
        store.sync(url, ref)
    with pytest.raises(error):
        store.remote_head(url, ref)


def test_messages_from_git_lose_credentials_and_control_characters() -> None:
    stderr = (
        "remote: Counting objects\n"
        "fatal: unable to access 'https://user:s3cret@host/r/': \x1b[31mThe requested URL returned error: 403\n"
    )
    line = last_error_line(stderr)
    assert line == "unable to access 'https://host/r/': ?[31mThe requested URL returned error: 403"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def https_remote(remote: Remote, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """remote served over https from 127.0.0.1 as static files (git's dumb http), with its own CA."""
    remote.commit("over https")
    served = tmp_path / "served"
    remote.git("clone", "--quiet", "--bare", str(remote.path), str(served / "repo.git"))
    remote.git("-C", str(served / "repo.git"), "update-server-info")
    ca_file, context = make_tls(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(served)))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://localhost:{server.server_address[1]}/repo.git", ca_file
    server.shutdown()
    server.server_close()


def make_tls(directory: Path) -> tuple[Path, ssl.SSLContext]:
    """A CA (written to ca.pem) and a server context with a localhost certificate it signed."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])

    def certificate(subject: x509.Name, public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
        validity = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(hours=1))
        builder = x509.CertificateBuilder().subject_name(subject).issuer_name(ca_name).public_key(public_key)
        return (
            builder.serial_number(x509.random_serial_number())
            .not_valid_before(validity[0])
            .not_valid_after(validity[1])
        )

    ca = certificate(ca_name, ca_key.public_key()).add_extension(
        x509.BasicConstraints(ca=True, path_length=None), critical=True
    )
    leaf = certificate(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]), key.public_key())
    leaf = leaf.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
    pem = serialization.Encoding.PEM
    (directory / "ca.pem").write_bytes(ca.sign(ca_key, hashes.SHA256()).public_bytes(pem))
    (directory / "server.pem").write_bytes(
        leaf.sign(ca_key, hashes.SHA256()).public_bytes(pem)
        + key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "server.pem")
    return directory / "ca.pem", context


def test_https_is_fetched_with_the_extra_ca_and_refused_without(
    https_remote: tuple[str, Path], settings: Settings, remote: Remote
) -> None:
    url, ca_file = https_remote
    with pytest.raises(RemoteUnreachable, match="certificate"):
        GitStore(settings).sync(url, "")

    store = GitStore(Settings(data_dir=settings.data_dir, git_timeout=30, git_ca_bundle=ca_file))
    head = remote.git("rev-parse", "HEAD")
    synced = store.sync(url, "")
    assert (synced.commit, synced.fetched, tiltfile(synced)) == (head, True, "over https")
    assert store.sync(url, "").fetched is False
    assert store.sync(url, head).commit == head  # a commit id, from a server that cannot send shallow


def test_a_first_fetch_makes_no_ls_remote_round_trip(store: LocalStore, remote: Remote) -> None:
    """Nothing on disk: the fetch resolves the ref itself (a clone's cost, not a clone's plus one)."""
    remote.commit("print(1)\n")
    calls = store.argv
    store.sync(remote.url, "")
    assert not [args for args in calls if args[0] == "ls-remote"]
    store.sync(remote.url, "")
    assert [args[0] for args in calls].count("ls-remote") == 1, "a re-check is one ls-remote"


def test_credentials_reach_git_through_its_environment_only_and_key_a_checkout_of_their_own(
    settings: Settings, remote: Remote
) -> None:
    remote.commit("private")
    store = LocalStore(settings)
    credentials = Credentials("ns/s", username="alice", password="pa55word")
    private = store.sync(remote.url, "", credentials)
    public = store.sync(remote.url, "")
    assert private.path != public.path, "a repo without the Secret never reads what it fetched"
    assert store.checkout_dir(remote.url, "", credentials) == private.path
    assert store.current(remote.url, "", credentials) == Checkout(private.path, private.commit, fetched=False)

    header = "Authorization: Basic " + base64.b64encode(b"alice:pa55word").decode()
    assert not [args for args in store.argv if any("pa55word" in arg or "Basic" in arg for arg in args)]
    assert header in store.envs[0].values(), "the header goes in git's environment"
    assert header not in store.envs[-1].values(), "and only for the repo whose Secret it is"
    for path in private.path.rglob("*"):
        if path.is_file():
            assert b"pa55word" not in path.read_bytes(), path
    assert list((settings.data_dir / "git" / "tmp").iterdir()) == []
    assert stat.S_IMODE((settings.data_dir / "git").stat().st_mode) == 0o700
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o750, "a runner's group reads checkouts"
    assert stat.S_IMODE(private.path.stat().st_mode) == 0o750, "each of them"


def test_an_ssh_url_is_fetched_only_with_a_key(store: LocalStore) -> None:
    with pytest.raises(ValueError, match="ssh:// urls need a secretRef"):
        store.sync("ssh://git@example.com/r", "")
    with pytest.raises(ValueError, match="ssh:// urls need a secretRef"):
        store.sync("ssh://git@example.com/r", "", Credentials("ns/s", bearer_token="t"))


def test_what_a_server_echoes_back_of_a_credential_is_scrubbed_from_the_error() -> None:
    credentials = Credentials("ns/s", username="alice", password="pa55word")
    assert scrubbed("fatal: bad login alice:pa55word", credentials) == "fatal: bad login alice:***"
    assert scrubbed("fatal: pa55word", None) == "fatal: pa55word"


# The layout before tilt_modules: checkouts an earlier version left in repos/ move, they are not fetched again.


def test_the_old_layout_is_the_one_earlier_versions_wrote() -> None:
    """Pinned: where an earlier version put these checkouts, so that the move finds them."""
    tilt = "https://github.com/tilt-dev/tilt-extensions"
    assert old_checkout_dir(tilt, "", None) == PurePosixPath("github.com/tilt-dev-tilt-extensions-635b43d47033049d")
    private = old_checkout_dir("https://127.0.0.1:8443/x.git", "v1", "ns/s")
    assert private == PurePosixPath("127.0.0.1-8443/x.git-2e5ade168595bd12")


def in_old_layout(store: GitStore, url: str, ref: str, credentials: Credentials | None = None) -> Path:
    """Put the checkout of (url, ref) where an earlier version kept it, with what it kept beside it."""
    new = store.checkout_dir(url, ref, credentials)
    old = store.root.parent / "repos" / old_checkout_dir(url, ref, credentials.source if credentials else None)
    old.parent.mkdir(parents=True, exist_ok=True)
    new.rename(old)
    (new.parent / f".{new.name}.checked").rename(old.parent / f".{old.name}.checked")
    (old.parent / f".{old.name}.lock").touch()
    (old.parent / f".{old.name}.tmp-abc_123x" / "sub").mkdir(parents=True)  # a crashed fetch's leftover
    return old


def test_a_checkout_in_the_old_layout_moves_to_tilt_modules_without_a_fetch(
    settings: Settings, remote: Remote, caplog: pytest.LogCaptureFixture
) -> None:
    commit = remote.commit("one")
    first = LocalStore(settings).sync(remote.url, "")
    inode = first.path.stat().st_ino
    old = in_old_layout(LocalStore(settings), remote.url, "")

    upgraded = LocalStore(settings)  # an operator of this version, started on that data dir
    with caplog.at_level(logging.INFO, logger="tilt_operator.gitstore.store"):
        assert upgraded.sync(remote.url, "") == Checkout(first.path, commit, fetched=False)
    assert upgraded.commands == ["ls-remote"], "the usual re-check, no fetch"
    assert first.path.stat().st_ino == inode, "the same tree, renamed"
    assert f"moved {old} to {first.path}" in caplog.text
    assert not (settings.data_dir / "repos").exists(), "nothing of the old layout is left behind"

    caplog.clear()
    upgraded.commands.clear()
    assert upgraded.sync(remote.url, "") == Checkout(first.path, commit, fetched=False)
    assert upgraded.commands == ["ls-remote"]
    assert "moved" not in caplog.text, "once"


def test_a_pinned_private_checkout_moves_with_no_git_command_at_all(settings: Settings, remote: Remote) -> None:
    commit = remote.commit("one")
    credentials = Credentials("ns/s", username="alice", password="pa55word")
    first = LocalStore(settings).sync(remote.url, commit, credentials)
    in_old_layout(LocalStore(settings), remote.url, commit, credentials)

    upgraded = LocalStore(settings)
    assert upgraded.sync(remote.url, commit, credentials) == Checkout(first.path, commit, fetched=False)
    assert upgraded.commands == []
    assert upgraded.current(remote.url, commit) is None, "still its Secret's alone"


def test_an_interrupted_move_is_finished_and_an_old_copy_beside_a_new_one_removed(
    settings: Settings, remote: Remote
) -> None:
    commit = remote.commit("one")
    store = LocalStore(settings)
    first = store.sync(remote.url, "")
    old = in_old_layout(store, remote.url, "")
    # A copy in each layout (an earlier version ran again after a move), and the files a move cut
    # short leaves beside the old one: all of the old layout's is to go, and only that.
    shutil.copytree(old, first.path, symlinks=True)
    (settings.data_dir / "repos" / "other-host").mkdir()

    assert store.sync(remote.url, "") == Checkout(first.path, commit, fetched=False)
    assert not old.parent.exists(), "the old copy, its lock, stamp and leftovers are gone"
    assert [p.name for p in (settings.data_dir / "repos").iterdir()] == ["other-host"], "other hosts wait their turn"


def test_a_checkout_that_cannot_be_renamed_is_fetched_again_and_the_old_copy_removed_after(
    settings: Settings, remote: Remote, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote.commit("one")
    first = LocalStore(settings).sync(remote.url, "")
    old = in_old_layout(LocalStore(settings), remote.url, "")
    store = LocalStore(settings)
    rename = store_module._move_into_place

    def across_file_systems(new: Path, final: Path) -> None:
        if new.is_relative_to(settings.data_dir / "repos"):
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))
        rename(new, final)

    with monkeypatch.context() as patch:
        patch.setattr(store_module, "_move_into_place", across_file_systems)
        assert store.sync(remote.url, "").fetched
    assert old.is_dir()
    assert store.sync(remote.url, "") == Checkout(first.path, first.commit, fetched=False)
    assert not old.exists()
