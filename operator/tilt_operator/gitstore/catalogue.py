"""What a repo offers: every directory holding a Tiltfile, with the first paragraph of its README.

The catalogue an ExtensionRepo lists in ``status.extensions``, as a Helm repo's index lists its
charts (:func:`scan`, run by the ExtensionRepo reconciler on every new checkout), and the
catalogue of every repo with what is installed of it (:func:`listing`, for ``kubectl tilt
search`` and the dashboard). A repo is untrusted content, so the scan is bounded and confined:

- it reads nothing outside the repo: a symlink that resolves outside is skipped, as an
  Extension's path would be refused (:mod:`tilt_operator.paths`);
- it skips ``.git``, ``node_modules`` and every dot-directory, goes at most :data:`MAX_DEPTH`
  directories down, visits at most :data:`MAX_DIRECTORIES` directories and lists at most
  :data:`MAX_EXTENSIONS`, and says so in a note when a limit cut it short;
- an extension's own subdirectories are its own (its tests, its assets): the scan does not look
  for extensions inside an extension.
"""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from tilt_operator.messages import clip
from tilt_operator.names import extension_name
from tilt_operator.paths import OutsideRoot, confine

MAX_DEPTH = 6
MAX_DIRECTORIES = 2000
MAX_EXTENSIONS = 500
DESCRIPTION_LIMIT = 300
READMES = ("README.md", "README", "readme.md", "Readme.md")
_README_BYTES = 64 * 1024
_SKIPPED = {"node_modules"}

# Markdown, reduced to its text: images go, links keep their text, emphasis and code marks go.
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_REFERENCE_LINK = re.compile(r"\[([^\]]*)\]\[[^\]]*\]")
_TAG = re.compile(r"<[^>]*>")
_MARKS = re.compile(r"(\*\*|__|\*|`+|~~)")
_CODE = re.compile(r"(`+)(.+?)\1")
_LEADING_MARKS = re.compile(r"^\s{0,3}(?:>\s?|[-*+]\s+|\d+[.)]\s+)")
_HEADING = re.compile(r"^\s{0,3}#")
_UNDERLINE = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_METADATA = re.compile(r"^\s*(authors?|maintainers?|contributors?|license|status|version)\s*:", re.IGNORECASE)


@dataclass
class Catalogue:
    extensions: list[dict[str, Any]] = field(default_factory=list)
    # Set when a limit cut the scan short.
    note: str | None = None

    def status(self) -> dict[str, Any]:
        """The ExtensionRepo status fields that list it."""
        return {"extensions": self.extensions, "extensionCount": len(self.extensions), "extensionsNote": self.note}


def description(text: str) -> str:
    """The first paragraph of a README in markdown, as plain text, clipped to :data:`DESCRIPTION_LIMIT`.

    Headings, badges (a paragraph of images alone), metadata lines (``Author: …``), HTML comments
    and code blocks are not a description; the first paragraph with words in it is.
    """
    text = re.sub(r"<!--.*?-->", "", text, flags=re.DOTALL)
    text = re.sub(r"^(```|~~~).*?^\1", "", text, flags=re.DOTALL | re.MULTILINE)
    for paragraph in re.split(r"\n\s*\n", text):
        lines: list[str] = []
        for line in paragraph.strip().splitlines():
            if _UNDERLINE.match(line):  # a heading underlined with === or ---
                lines = lines[:-1]
            elif not _HEADING.match(line):
                lines.append(line)
        if lines and all(_METADATA.match(line) for line in lines):
            continue  # "Author: …", as Tilt's extensions start
        plain = " ".join(_plain(line) for line in lines)
        plain = re.sub(r"\s+", " ", plain).strip()
        if re.search(r"\w", plain):
            return clip(plain, DESCRIPTION_LIMIT)
    return ""


def _plain(line: str) -> str:
    # Code spans are kept as they are written (`<cmd>` is text there, not a tag).
    spans: list[str] = []

    def hold(found: re.Match[str]) -> str:
        spans.append(found.group(2))
        return f"\0{len(spans) - 1}\0"

    line = _CODE.sub(hold, line)
    line = _LEADING_MARKS.sub("", line)
    line = _IMAGE.sub("", line)
    line = _LINK.sub(r"\1", line)
    line = _REFERENCE_LINK.sub(r"\1", line)
    line = _TAG.sub("", line)
    line = _MARKS.sub("", line)
    return re.sub(r"\0(\d+)\0", lambda found: spans[int(found.group(1))], line)


def _entries(directory: str | Path) -> list[os.DirEntry[str]]:
    """A directory's entries, real ones first (a symlink to one is the same thing under another name)."""
    try:
        with os.scandir(directory) as entries:
            return sorted(entries, key=lambda entry: (entry.is_symlink(), entry.name))
    except OSError:
        return []


def _regular_file(entry: os.DirEntry[str], root: Path) -> Path | None:
    """The file an entry is, when it is a regular file inside the repo (through its symlinks, if any)."""
    try:
        if entry.is_symlink():
            resolved = confine(Path(entry.path), root)
            return resolved if resolved.is_file() else None
        return Path(entry.path) if entry.is_file(follow_symlinks=False) else None
    except (OutsideRoot, OSError):
        return None


def _named(entries: list[os.DirEntry[str]], names: tuple[str, ...], root: Path) -> Path | None:
    """The first of ``names`` (in that order) among ``entries`` that is a regular file inside the repo."""
    by_name = {entry.name: entry for entry in entries}
    found = (_regular_file(by_name[name], root) for name in names if name in by_name)
    return next((path for path in found if path is not None), None)


def find_readme(directory: Path, root: Path) -> Path | None:
    """The README of an extension's directory, when it is a regular file inside the repo."""
    return _named(_entries(directory), READMES, root)


def read_readme(path: Path) -> str | None:
    """A README's text, or None when it is not text (binary, or not UTF-8)."""
    with path.open("rb") as readme:
        data = readme.read(_README_BYTES)
    if b"\0" in data:
        return None
    try:
        return data.decode()
    except UnicodeDecodeError as error:
        if error.start < len(data) - 3:  # not just a character cut in half at the read limit
            return None
        return data[: error.start].decode()


def scan(repo_root: Path, git_subpath: str = "") -> Catalogue:
    """Every extension under ``repo_root/git_subpath``, by path, within the limits.

    One ``scandir`` a directory: only symlinks are resolved (a real directory inside a directory
    inside the repo is inside the repo). Paths are strings until one is listed: a pathlib join for
    every directory queued cost more than the scan itself.
    """
    root = repo_root.resolve()
    try:
        base = str(confine(root / git_subpath, root))
    except OutsideRoot:
        return Catalogue(note=f"gitSubpath {git_subpath} leads outside the repo")
    catalogue = Catalogue()
    # (the path as the repo names it, its real path, its depth below base)
    queue: deque[tuple[str, str, int]] = deque([(base, base, 0)])
    seen: set[str] = {base}
    visited = 0
    while queue:
        directory, real, depth = queue.popleft()
        visited += 1
        if visited > MAX_DIRECTORIES:
            catalogue.note = f"the scan stopped after {MAX_DIRECTORIES} directories: some extensions may be missing"
            break
        entries = _entries(directory)
        if directory != base and _named(entries, ("Tiltfile",), root):
            if len(catalogue.extensions) == MAX_EXTENSIONS:
                catalogue.note = f"only the first {MAX_EXTENSIONS} extensions are listed"
                break
            path = PurePosixPath(os.path.relpath(directory, base)).as_posix()
            readme = _named(entries, READMES, root)
            text = read_readme(readme) if readme else None
            catalogue.extensions.append(
                {"name": extension_name(path), "path": path, "description": description(text) if text else ""}
            )
            continue  # an extension's subdirectories are its own
        if depth == MAX_DEPTH:
            continue
        for entry in entries:
            if entry.name.startswith(".") or entry.name in _SKIPPED:
                continue
            try:
                if entry.is_symlink():
                    child = str(confine(Path(entry.path), root))  # a symlink out of the repo: never read
                    if not os.path.isdir(child):
                        continue
                elif entry.is_dir(follow_symlinks=False):
                    child = os.path.join(real, entry.name)
                else:
                    continue
            except (OutsideRoot, OSError):
                continue
            if child not in seen:
                seen.add(child)
                queue.append((os.path.join(directory, entry.name), child, depth + 1))
    catalogue.extensions.sort(key=lambda entry: entry["path"])
    return catalogue


def _normal(path: str) -> str:
    return str(PurePosixPath(path or "."))


def listing(repos: Iterable[Mapping[str, Any]], extensions: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every repo's extensions from their statuses, by repo and path, each with the Extensions installing it."""
    installed: dict[tuple[str, str], list[str]] = {}
    for extension in extensions:
        spec = extension.get("spec") or {}
        key = (str(spec.get("repoName", "")), _normal(str(spec.get("repoPath", ""))))
        installed.setdefault(key, []).append(extension["metadata"]["name"])
    entries = []
    for repo in sorted(repos, key=lambda obj: obj["metadata"]["name"]):
        name = repo["metadata"]["name"]
        for entry in (repo.get("status") or {}).get("extensions") or []:
            path = str(entry.get("path", ""))
            entries.append(
                {
                    "repo": name,
                    "path": path,
                    "name": entry.get("name", ""),
                    "description": entry.get("description", ""),
                    "installed": sorted(installed.get((name, _normal(path)), [])),
                }
            )
    return entries


def matches(entry: Mapping[str, Any], term: str) -> bool:
    """Whether ``term`` is in the entry's REPO/PATH, name or description, whatever the case."""
    haystack = f"{entry['repo']}/{entry['path']} {entry['name']} {entry['description']}".lower()
    return term.lower() in haystack
