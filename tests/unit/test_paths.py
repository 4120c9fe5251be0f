"""Extension path resolution against hostile repos and repoPaths."""

from __future__ import annotations

from pathlib import Path

import pytest

from tilt_operator.paths import PathError, resolve_tiltfile


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "ext" / "cancel").mkdir(parents=True)
    (root / "ext" / "cancel" / "Tiltfile").write_text("print(1)\n")
    (root / "empty").mkdir()
    (root / "dirfile" / "Tiltfile").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "Tiltfile").write_text("print('escaped')\n")
    (root / "escape").symlink_to(tmp_path / "outside")
    (root / "inside").symlink_to(root / "ext" / "cancel")
    return root


def test_a_tiltfile_resolves_to_its_real_path(repo: Path):
    assert resolve_tiltfile(repo, "", "ext/cancel") == repo / "ext" / "cancel" / "Tiltfile"
    assert resolve_tiltfile(repo, "ext", "cancel") == repo / "ext" / "cancel" / "Tiltfile"


def test_a_symlink_that_stays_inside_the_repo_is_followed(repo: Path):
    assert resolve_tiltfile(repo, "", "inside") == repo / "ext" / "cancel" / "Tiltfile"


@pytest.mark.parametrize(
    ("subpath", "repo_path", "message"),
    [
        ("", "../../etc", "repoPath '../../etc' must not contain '..'"),
        ("", "/etc", "repoPath '/etc' must be relative to the repo"),
        ("/", "etc", "gitSubpath '/' must be relative to the repo"),
        ("..", "x", "gitSubpath '..' must not contain '..'"),
        ("", "escape", "repoPath 'escape' leads outside the repo (through a symlink)"),
        ("", "empty", "no Tiltfile at 'empty' in the repo"),
        ("", "missing", "no Tiltfile at 'missing' in the repo"),
        ("", "dirfile", "is not a regular file"),
    ],
)
def test_bad_paths_are_refused_with_a_clear_message(repo: Path, subpath: str, repo_path: str, message: str):
    with pytest.raises(PathError) as error:
        resolve_tiltfile(repo, subpath, repo_path)
    assert message in str(error.value)
