"""A repo's catalogue, scanned from directories made in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import catalogue_repo
from tilt_operator.gitstore import catalogue


def extension(root: Path, path: str, readme: str | bytes | None = None, name: str = "README.md") -> Path:
    directory = root / path
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "Tiltfile").write_text("print('hi')\n")
    if isinstance(readme, bytes):
        (directory / name).write_bytes(readme)
    elif readme is not None:
        (directory / name).write_text(readme)
    return directory


def listed(repo: Path, subpath: str = "") -> list[tuple[str, str, str]]:
    return [(e["name"], e["path"], e["description"]) for e in catalogue.scan(repo, subpath).extensions]


def test_a_repo_shaped_like_tilts_lists_every_extension_with_its_description(tmp_path: Path) -> None:
    paths = catalogue_repo.make(tmp_path)
    scanned = catalogue.scan(tmp_path)
    assert len(paths) == 60
    assert [entry["path"] for entry in scanned.extensions] == paths  # not their test/ Tiltfiles
    cancel = next(entry for entry in scanned.extensions if entry["path"] == "cancel")
    assert cancel == {"name": "cancel", "path": "cancel", "description": catalogue_repo.description("cancel")}
    nested = next(entry for entry in scanned.extensions if entry["path"] == "k8s/cert_manager")
    assert nested["name"] == "cert-manager"  # as `kubectl tilt create ext repo/k8s/cert_manager` names it
    assert scanned.note is None
    assert scanned.status()["extensionCount"] == 60


@pytest.mark.parametrize(
    ("readme", "expected"),
    [
        ("# Title\n\nFirst *para*graph\ngoes on.\n\nSecond.", "First paragraph goes on."),
        ("Title\n=====\n\n> Quoted `code` and <b>tags</b>.", "Quoted code and tags."),
        (
            "A button `<cmd>:cancel` per `Cmd`, **bold** _not_ <i>tags</i>.",
            "A button <cmd>:cancel per Cmd, bold _not_ tags.",
        ),
        ("<!-- hidden -->\n![logo](x.png)\n\n- a [link][ref] item", "a link item"),
        ("```\ncode only\n```\n\nAfter the code.", "After the code."),
        ("# Only a heading\n", ""),
        ("x" * 400, "x" * 299 + "…"),
    ],
)
def test_the_description_is_the_first_paragraph_as_plain_text(readme: str, expected: str) -> None:
    assert catalogue.description(readme) == expected


def test_a_binary_or_missing_readme_gives_no_description(tmp_path: Path) -> None:
    extension(tmp_path, "binary", b"\x89PNG\r\n\x1a\n\0\0\0")
    extension(tmp_path, "latin1", "caf\xe9 au lait".encode("latin-1"))
    extension(tmp_path, "none")
    extension(tmp_path, "plain", "Plain README without markdown.", name="README")
    assert listed(tmp_path) == [
        ("binary", "binary", ""),
        ("latin1", "latin1", ""),
        ("none", "none", ""),
        ("plain", "plain", "Plain README without markdown."),
    ]


def test_nothing_outside_the_repo_is_read(tmp_path: Path) -> None:
    repo, outside = tmp_path / "repo", tmp_path / "outside"
    extension(outside, "secret", "Outside the repo.")
    extension(repo, "inside", "Inside.")
    (repo / "escape").symlink_to(outside / "secret")
    (repo / "escape-parent").symlink_to(outside)
    (repo / "alias").symlink_to(repo / "inside")  # inside the repo: the same extension, listed once
    readme_link = extension(repo, "linked-readme")
    (readme_link / "README.md").symlink_to(outside / "secret" / "README.md")
    assert listed(repo) == [("inside", "inside", "Inside."), ("linked-readme", "linked-readme", "")]


def test_dot_directories_node_modules_and_deep_paths_are_skipped(tmp_path: Path) -> None:
    extension(tmp_path, ".hidden/ext")
    extension(tmp_path, "node_modules/ext")
    extension(tmp_path, "/".join(["d"] * catalogue.MAX_DEPTH) + "/too-deep")
    extension(tmp_path, "/".join(["d"] * (catalogue.MAX_DEPTH - 1)) + "/deep-enough")
    assert [path for _, path, _ in listed(tmp_path)] == ["d/d/d/d/d/deep-enough"]


def test_git_subpath_scopes_the_scan(tmp_path: Path) -> None:
    extension(tmp_path, "extensions/one")
    extension(tmp_path, "other/two")
    assert [(name, path) for name, path, _ in listed(tmp_path, "extensions")] == [("one", "one")]
    assert catalogue.scan(tmp_path, "../..").note == "gitSubpath ../.. leads outside the repo"


def test_the_caps_hold_and_say_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for index in range(12):
        extension(tmp_path, f"ext-{index:02}")
    monkeypatch.setattr(catalogue, "MAX_EXTENSIONS", 10)
    scanned = catalogue.scan(tmp_path)
    assert len(scanned.extensions) == 10
    assert scanned.note == "only the first 10 extensions are listed"
    for index in range(30):
        (tmp_path / "empty" / f"dir-{index:02}").mkdir(parents=True)
    monkeypatch.setattr(catalogue, "MAX_EXTENSIONS", 500)
    monkeypatch.setattr(catalogue, "MAX_DIRECTORIES", 20)
    assert catalogue.scan(tmp_path).note == "the scan stopped after 20 directories: some extensions may be missing"
