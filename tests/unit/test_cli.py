"""``kubectl tilt`` without a cluster: parsing, the objects it builds, its errors and its table.

The CLI's promise is that a command makes exactly the objects the equivalent Tiltfile would, so
the dry-run tests run the real Tiltfile engine on the equivalent source and compare. Commands that
talk to the cluster run here against a fake ``kube`` that records its calls.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from tilt_operator import kube
from tilt_operator.api import EXTENSION, EXTENSION_REPO, UI_BUTTON, shipped_crds
from tilt_operator.cli import kubectl_tilt as cli
from tilt_operator.cli import table as cli_table
from tilt_operator.engine.pool import run_tiltfile

CRDS = shipped_crds()
URL = "https://github.com/my-team/tilt-extensions"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def tiltfile_objects(tmp_path: Path, source: str) -> list[dict[str, Any]]:
    (tmp_path / "Tiltfile").write_text(source)
    result = run_tiltfile(tmp_path / "Tiltfile", crds=CRDS, timeout=20, memory_mb=256)
    assert result.error is None
    return result.objects


@pytest.fixture
def no_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any contact with the API server fails the test."""

    def refuse() -> None:
        raise AssertionError("contacted the cluster")

    monkeypatch.setattr(kube, "api_client", refuse)


class FakeKube:
    """The kube calls the CLI makes, against a dict of objects; records what was written."""

    def __init__(self, *objects: dict[str, Any]) -> None:
        self.objects = {(obj["kind"], obj["metadata"]["name"]): obj for obj in objects}
        self.applied: list[tuple[str, dict[str, Any], str]] = []
        self.statuses: list[tuple[str, str, dict[str, Any]]] = []
        self.deleted: list[tuple[str, str]] = []

    def get(self, kind, name):
        return self.objects.get((kind.kind, name))

    def list_objects(self, kind, label_selector=""):
        return [obj for (k, _), obj in self.objects.items() if k == kind.kind]

    def create(self, kind, obj, field_manager):
        """Stores what the server would, and refuses an existing object as the server does."""
        key = (kind.kind, obj["metadata"]["name"])
        if key in self.objects:
            conflict = ApiException(status=409, reason="Conflict")
            conflict.body = json.dumps({"message": f'{kind.resource} "{key[1]}" already exists'})
            raise conflict
        self.applied.append((kind.kind, obj, field_manager))
        stored = {**obj, "metadata": {**obj["metadata"], "uid": "u1", "managedFields": [{"manager": field_manager}]}}
        self.objects[key] = stored
        return stored

    def patch_status(self, kind, name, status):
        self.statuses.append((kind.kind, name, status))

    def delete(self, kind, name):
        self.deleted.append((kind.kind, name))

    def list_crds(self):
        return CRDS


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeKube:
    fake = FakeKube({"kind": "ExtensionRepo", "metadata": {"name": "my-team"}, "spec": {"url": URL}})
    for function in ("get", "list_objects", "create", "patch_status", "delete", "list_crds"):
        monkeypatch.setattr(kube, function, getattr(fake, function))
    return fake


# The same objects as the Tiltfile.


@pytest.mark.parametrize(
    ("commands", "source"),
    [
        (
            [["create", "repo", "my-team", URL], ["create", "ext", "my-team/image-builder"]],
            f"extension_repo(name='my-team', url='{URL}')\n"
            "extension(name='image-builder', repo_name='my-team', repo_path='image-builder')\n",
        ),
        (
            [["create", "repo", "my_team", URL, "--ref", "v1.2"], ["create", "ext", "my_team/tools/image_builder"]],
            f"extension_repo(name='my_team', url='{URL}', ref='v1.2')\n"
            "extension(name='image_builder', repo_name='my_team', repo_path='tools/image_builder')\n",
        ),
        (
            [["create", "ext", "cancel"], ["create", "ext", "b", "--repo", "r", "--path", "p/b", "--", "-v", "x y"]],
            "extension(name='cancel', repo_name='default', repo_path='cancel')\n"
            "extension(name='b', repo_name='r', repo_path='p/b', args=['-v', 'x y'])\n",
        ),
    ],
    ids=["seed", "tilt-names-and-ref", "plain-name-and-args"],
)
@pytest.mark.parametrize("output", ["yaml", "json"])
def test_dry_run_prints_exactly_what_the_equivalent_tiltfile_registers(
    capsys, tmp_path, no_cluster, commands, source, output
):
    printed = []
    for command in commands:
        split = command.index("--") if "--" in command else len(command)
        code, out, err = run(capsys, *command[:split], "--dry-run=client", "-o", output, *command[split:])
        assert (code, err) == (0, "")
        printed.append(yaml.safe_load(out) if output == "yaml" else json.loads(out))
    assert printed == tiltfile_objects(tmp_path, source)


def test_dry_run_without_output_says_what_it_would_create(capsys, no_cluster):
    assert run(capsys, "create", "ext", "my-team/image-builder", "--dry-run", "client") == (
        0,
        "extension.tilt.dev/image-builder created (dry run)\n",
        "",
    )
    assert run(capsys, "create", "repo", "r", URL, "--dry-run=client", "-o", "name") == (
        0,
        "extensionrepo.tilt.dev/r\n",
        "",
    )


def test_file_urls_must_exist_even_in_a_dry_run(capsys, tmp_path, no_cluster):
    assert run(capsys, "create", "repo", "r", f"file://{tmp_path}", "--dry-run=client", "-o", "name")[0] == 0
    code, _, err = run(capsys, "create", "repo", "r", f"file://{tmp_path}/gone", "--dry-run=client")
    assert (code, err) == (1, f"error: invalid url: {tmp_path}/gone is not an existing directory\n")


# Reading the command line.


@pytest.mark.parametrize(
    ("name", "repo", "path", "expected"),
    [
        ("image-builder", None, None, ("image-builder", "default", "image-builder")),
        ("image-builder", "my-team", None, ("image-builder", "my-team", "image-builder")),
        ("b", "r", "tools/b", ("b", "r", "tools/b")),
        ("my-team/image-builder", None, None, ("image-builder", "my-team", "image-builder")),
        ("my-team/tools/image-builder/", None, None, ("image-builder", "my-team", "tools/image-builder/")),
    ],
)
def test_extension_target_reads_name_or_the_short_form(name, repo, path, expected):
    assert cli.extension_target(name, repo, path) == expected


@pytest.mark.parametrize(
    ("name", "repo", "path", "message"),
    [
        ("my-team/x", "other", None, "already names the repo and the path"),
        ("my-team/x", None, "y", "already names the repo and the path"),
        ("/x", None, None, "is not REPO/PATH"),
        ("my-team/", None, None, "is not REPO/PATH"),
    ],
)
def test_extension_target_refuses_ambiguous_or_half_short_forms(name, repo, path, message):
    with pytest.raises(cli.CLIError, match=message):
        cli.extension_target(name, repo, path)


def test_arguments_after_a_double_dash_are_never_flags():
    options = cli.parse(["create", "ext", "x", "--repo", "r", "--", "--repo", "-o", "yaml"])
    assert (options.name, options.repo, options.output, options.args) == ("x", "r", None, ["--repo", "-o", "yaml"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "error: the following arguments are required: COMMAND (see 'kubectl tilt --help')"),
        (["create", "repo", "x"], "error: the following arguments are required: URL (see 'kubectl tilt create repo"),
        (["create", "ext", "x", "--dry-run=server"], "error: argument --dry-run: invalid choice: 'server'"),
        (["get", "--", "x"], "error: unexpected arguments after '--': x"),
        (["delete", "tf", "x"], "error: argument {ext,repo}: invalid choice: 'tf'"),
        (["create", "repo", "x", "http://example.com/r"], "error: invalid url: plain http is not allowed"),
        (["create", "repo", "x", URL, "--ref=-f"], "error: invalid ref: ref '-f' must not start with '-'"),
        (["create", "repo", "Bad/Name", URL], "error: 'Bad/Name' cannot be a name"),
        (["click", "a%b"], "error: 'a%b' cannot be a name"),
    ],
)
def test_bad_input_is_one_error_line_and_exit_code_1_before_the_cluster_is_asked(capsys, no_cluster, argv, message):
    code, out, err = run(capsys, *argv)
    assert (code, out) == (1, "")
    assert err.startswith(message)
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    "command",
    [[], ["create"], ["create", "repo"], ["create", "ext"], ["click"], ["trigger"], ["get"], ["delete"], ["render"]],
)
def test_every_command_has_help(capsys, command):
    with pytest.raises(SystemExit) as exited:
        cli.main([*command, "--help"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: {' '.join(['kubectl tilt', *command])}")


# Talking to the cluster (a fake one).


def test_create_applies_the_built_object_with_its_own_field_manager(capsys, fake):
    code, out, _ = run(capsys, "create", "ext", "my-team/image-builder", "-o", "yaml")
    assert code == 0
    ((kind, obj, manager),) = fake.applied
    assert (kind, manager) == ("Extension", "kubectl-tilt")
    assert obj["spec"] == {"repoName": "my-team", "repoPath": "image-builder"}
    printed = yaml.safe_load(out)
    assert printed["metadata"]["uid"] == "u1"
    assert "managedFields" not in printed["metadata"]


def test_create_refuses_an_object_that_exists_as_kubectl_create_does(capsys, fake):
    assert run(capsys, "create", "repo", "my-team", URL) == (
        1,
        "",
        'error: extensionrepos.tilt.dev "my-team" already exists\n',
    )
    assert fake.applied == []


def test_create_ext_refuses_a_repo_that_does_not_exist(capsys, fake):
    code, _, err = run(capsys, "create", "ext", "other_team/x")
    assert (code, err) == (
        1,
        "error: extension repo not found: other-team (create it first: kubectl tilt create repo other-team URL)\n",
    )
    assert fake.applied == []


def test_click_writes_last_clicked_at_of_the_mapped_name(capsys, fake):
    fake.objects[("UIButton", "sleeper.cancel")] = {"kind": "UIButton", "metadata": {"name": "sleeper.cancel"}}
    assert run(capsys, "click", "sleeper:cancel") == (0, "uibutton.tilt.dev/sleeper.cancel clicked\n", "")
    ((kind, name, status),) = fake.statuses
    assert (kind, name, sorted(status)) == (UI_BUTTON.kind, "sleeper.cancel", ["inputs", "lastClickedAt"])
    assert status["inputs"] is None  # a merge patch's null: no inputs left from an earlier click
    assert run(capsys, "click", "gone")[2] == 'error: uibuttons.tilt.dev "gone" not found\n'


def test_click_takes_the_buttons_inputs(capsys, fake):
    inputs = [{"name": "env", "choice": {"choices": ["dev", "prod"]}}, {"name": "why", "text": {}}]
    fake.objects[("UIButton", "deploy")] = {
        "kind": "UIButton",
        "metadata": {"name": "deploy"},
        "spec": {"inputs": inputs},
    }
    assert run(capsys, "click", "deploy", "--input", "env=prod", "--input", "why=a=b")[0] == 0
    ((_, _, status),) = fake.statuses
    assert status["inputs"] == [{"name": "env", "choice": {"value": "prod"}}, {"name": "why", "text": {"value": "a=b"}}]
    assert run(capsys, "click", "deploy", "--input", "env=qa")[2] == (
        "error: uibutton.tilt.dev/deploy: input env is one of dev, prod, not 'qa'\n"
    )
    assert run(capsys, "click", "deploy", "--input", "env")[2] == "error: --input takes NAME=VALUE, not 'env'\n"
    assert len(fake.statuses) == 1  # nothing written for the refused clicks


def test_a_disabled_button_is_refused_as_the_dashboard_refuses_it(capsys, fake):
    fake.objects[("UIButton", "off")] = {"kind": "UIButton", "metadata": {"name": "off"}, "spec": {"disabled": True}}
    assert run(capsys, "click", "off") == (1, "", "error: uibutton.tilt.dev/off: the button is disabled\n")
    assert fake.statuses == []


def test_delete_checks_every_name_before_deleting_any(capsys, fake):
    assert run(capsys, "delete", "repo", "my-team", "gone")[2] == 'error: extensionrepos.tilt.dev "gone" not found\n'
    assert fake.deleted == []
    assert run(capsys, "delete", "extensionrepo", "my_team", "gone", "--ignore-not-found") == (
        0,
        "extensionrepo.tilt.dev/my-team deleted\n",
        "",
    )
    assert fake.deleted == [(EXTENSION_REPO.kind, "my-team")]


def test_get_prints_one_table_and_filters_by_kind(capsys, fake):
    fake.objects[("Extension", "x")] = {"kind": "Extension", "metadata": {"name": "x"}, "spec": {}}
    code, out, _ = run(capsys, "get")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == ["KIND", "ExtensionRepo", "Extension"]
    assert run(capsys, "get", "ext")[1].splitlines()[1].split() == ["Extension", "x", "Unknown", "/"]
    assert run(capsys, "get", "tf") == (0, "", "No resources found\n")


def test_api_errors_are_the_servers_message_and_a_missing_kind_says_install_the_crds(capsys, monkeypatch):
    def missing(kind, label_selector=""):
        raise ApiException(status=404, reason="Not Found")

    monkeypatch.setattr(kube, "list_objects", missing)
    assert run(capsys, "get") == (1, "", "error: 404 Not Found: install the tilt.dev CRDs (kubectl apply -k crds/)\n")


def test_an_unreachable_server_is_one_line_naming_it(capsys, tmp_path, monkeypatch):
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump(kubeconfig))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    kube.api_client.cache_clear()
    try:
        assert run(capsys, "get") == (
            1,
            "",
            "error: cannot reach the API server at https://127.0.0.1:1: Connection refused\n",
        )
    finally:
        kube.api_client.cache_clear()


# render.


def test_render_prints_the_objects_as_yaml_and_the_tiltfiles_output_on_stderr(capsys, tmp_path, no_cluster):
    (tmp_path / "Tiltfile").write_text(
        "print('hello')\nwarn('careful')\nextension(name='x', repo_name='r', repo_path='x', args=args)\n"
    )
    code, out, err = run(capsys, "render", str(tmp_path), "--", "a")
    assert (code, err) == (0, "hello\nwarning: careful\n")
    assert list(yaml.safe_load_all(out)) == [
        {
            "apiVersion": "tilt.dev/v1alpha1",
            "kind": "Extension",
            "metadata": {"name": "x"},
            "spec": {"repoName": "r", "repoPath": "x", "args": ["a"]},
        }
    ]


def test_render_loads_extensions_from_ext_dir(capsys, tmp_path, no_cluster):
    (tmp_path / "exts" / "hello").mkdir(parents=True)
    (tmp_path / "exts" / "hello" / "Tiltfile").write_text("def hello():\n    print('hi')\n")
    (tmp_path / "Tiltfile").write_text("load('ext://hello', 'hello')\nhello()\n")
    loaded = {
        "apiVersion": "tilt.dev/v1alpha1",
        "kind": "Extension",
        "metadata": {"name": "hello", "annotations": {"tilt.dev/managed-by": "tiltfile.loader"}},
        "spec": {"repoName": "default", "repoPath": "hello"},
    }
    rendered = yaml.safe_dump(loaded)
    assert run(capsys, "render", str(tmp_path / "Tiltfile"), "--ext-dir", str(tmp_path / "exts")) == (
        0,
        rendered,
        "hi\n",
    )
    code, _, err = run(capsys, "render", str(tmp_path / "Tiltfile"))
    assert code == 1
    assert err.endswith(
        "cannot load ext://hello: ExtensionRepo 'default' is not ready:"
        " render finds ext:// only in --ext-dir (the repo 'default')\n"
    )


def test_render_errors_are_one_line_with_the_tiltfile_line(capsys, tmp_path, no_cluster):
    (tmp_path / "Tiltfile").write_text("extension(name='x')\n")
    code, out, err = run(capsys, "render", str(tmp_path))
    assert (code, out) == (1, "")
    assert err == f"error: {tmp_path / 'Tiltfile'}:1:10: extension: missing required argument 'repo_name'\n"
    assert run(capsys, "render", str(tmp_path / "none"))[2] == f"error: no Tiltfile at {tmp_path / 'none'}\n"


def test_render_without_go_or_a_built_host_says_what_is_missing_in_one_line(capsys, tmp_path, monkeypatch, no_cluster):
    """A pip install on a machine without Go: the host cannot be built, and render says so."""
    (tmp_path / "Tiltfile").write_text("print('never runs')\n")
    monkeypatch.delenv("TILT_OPERATOR_TILTFILE_HOST", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("PATH", "/nonexistent")
    assert run(capsys, "render", str(tmp_path)) == (
        1,
        "",
        "error: the Tiltfile host is built once with the Go toolchain (1.22+), and `go` is not on PATH:"
        " install Go, or set TILT_OPERATOR_TILTFILE_HOST to a built tiltfile-host\n",
    )
    monkeypatch.setenv("TILT_OPERATOR_TILTFILE_HOST", str(tmp_path / "nothing"))
    assert run(capsys, "render", str(tmp_path))[2] == (
        f"error: TILT_OPERATOR_TILTFILE_HOST={tmp_path / 'nothing'} is not an executable file\n"
    )


def test_render_from_a_pip_install_builds_the_host_with_go(capsys, tmp_path, monkeypatch, no_cluster):
    """A new cache: the host is built from the sources the package ships, then the Tiltfile runs."""
    (tmp_path / "Tiltfile").write_text("print('built and ran')\n")
    monkeypatch.delenv("TILT_OPERATOR_TILTFILE_HOST", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert run(capsys, "render", str(tmp_path)) == (0, "", "built and ran\n")
    assert list((tmp_path / "cache" / "tilt-operator" / "tiltfile-host").glob("*/tiltfile-host"))


# The table.


def test_table_rows_say_ready_and_why_for_each_kind():
    repo = {
        "kind": EXTENSION_REPO.kind,
        "metadata": {"name": "my-team"},
        "spec": {"url": URL, "ref": "main"},
        "status": {
            "checkoutRef": "0123456789abcdef",
            "staleReason": "fetch: timed out",
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    extension = {
        "kind": EXTENSION.kind,
        "metadata": {"name": "x"},
        "spec": {"repoName": "my-team", "repoPath": "x"},
        "status": {"error": "extension repo not ready: my-team", "conditions": [{"type": "Ready", "status": "False"}]},
    }
    tiltfile = {
        "kind": "Tiltfile",
        "metadata": {"name": "x"},
        "spec": {"path": "/r/x/Tiltfile"},
        "status": {"terminated": {"error": "Tiltfile:1:1:\n  boom"}},
    }
    assert [cli_table.row(obj) for obj in (repo, extension, tiltfile)] == [
        ("ExtensionRepo", "my-team", "True", f"{URL}@main (0123456789ab)", "stale: fetch: timed out"),
        ("Extension", "x", "False", "my-team/x", "extension repo not ready: my-team"),
        ("Tiltfile", "x", "Unknown", "/r/x/Tiltfile", "Tiltfile:1:1: boom"),
    ]


def test_table_columns_line_up_as_kubectl_prints_them():
    table = cli_table.format_table(
        [("ExtensionRepo", "a", "True", "d", ""), ("Tiltfile", "long-name", "False", "", "e")]
    )
    assert table.splitlines() == [
        "KIND            NAME        READY   DETAIL   ERROR",
        "ExtensionRepo   a           True    d",
        "Tiltfile        long-name   False            e",
    ]
