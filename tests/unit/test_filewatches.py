"""The FileWatch reconciler's rules: what a change is, and what it is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from tilt_operator.reconcilers.filewatches import ignored

IGNORES = [{"basePath": "/w", "patterns": ["*.tmp", "build/", "**/*.log"]}, {"basePath": "/w/vendor"}]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/w/main.c", False),
        ("/w/scratch.tmp", True),
        ("/w/deep/scratch.tmp", False),  # .dockerignore patterns are relative to the base path
        ("/w/build", True),
        ("/w/build/out.o", True),
        ("/w/a/b/run.log", True),
        ("/w/run.log", True),
        ("/w/vendor/lib/x.go", True),  # a base path without patterns ignores everything below it
        ("/w/.git/index", True),  # Tilt's own: never a change
        ("/elsewhere/scratch.tmp", False),
    ],
)
def test_ignores_are_tilts(path: str, expected: bool):
    assert ignored(Path(path), IGNORES) is expected
