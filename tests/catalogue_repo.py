"""A repo shaped like Tilt's own extensions repo, made up here: about 60 extensions, each a directory
with a Tiltfile and a README in markdown (a heading, an author line, a paragraph), some nested in
a group directory, plus the test Tiltfiles extensions keep in a directory of their own."""

from __future__ import annotations

from pathlib import Path

_WORDS = [
    "cancel",
    "restart",
    "process",
    "git",
    "resource",
    "local",
    "docker",
    "compose",
    "helm",
    "remote",
    "secret",
    "config",
    "map",
    "namespace",
    "port",
    "forward",
    "file",
    "sync",
    "only",
    "tests",
]
GROUPED = ["cloud/bucket_sync", "cloud/queue_watch", "k8s/cert_manager", "k8s/kind_registry"]


def names(count: int = 56) -> list[str]:
    """Extension directory names like Tilt's (``restart_process``, ``git_resource``), made of word pairs."""
    pairs = [f"{a}_{b}" for a in _WORDS for b in _WORDS if a != b]
    return ["cancel", *pairs[: count - 1]]


def readme(name: str) -> str:
    title = name.replace("_", " ").title()
    return (
        f"# {title}\n\n"
        "[![Build](https://ci.example/badge.svg)](https://ci.example/)\n\n"
        "Author: [A. Maintainer](https://example.com/maintainer)\n\n"
        f"Adds **{title}** to your Tiltfile: call `{name}()` and see\n"
        f"[the docs](https://docs.example/{name}) for the options.\n\n"
        "## Usage\n\n```python\nload('ext://" + name + "', '" + name + "')\n```\n"
    )


def description(name: str) -> str:
    """What the catalogue should say for ``name``'s README."""
    title = name.replace("_", " ").title()
    return f"Adds {title} to your Tiltfile: call {name}() and see the docs for the options."


def make(root: Path, count: int = 56) -> list[str]:
    """Write the repo's files under ``root``; the extensions' paths, sorted."""
    paths = [*names(count), *GROUPED]
    for path in paths:
        directory = root / path
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "Tiltfile").write_text(f"def {Path(path).name}():\n    pass\n")
        (directory / "README.md").write_text(readme(Path(path).name))
        (directory / "test").mkdir(exist_ok=True)
        (directory / "test" / "Tiltfile").write_text(f"load('../Tiltfile', '{Path(path).name}')\n")
    (root / "README.md").write_text("# Extensions\n\nA repo of extensions.\n")
    return sorted(paths)
