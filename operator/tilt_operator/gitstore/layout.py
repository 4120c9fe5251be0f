"""Where a checkout lives in the data dir: Tilt's ``tilt_modules/<host>/<path>``, with ``@<ref>`` after it.

Tilt keeps an ExtensionRepo's clone at ``<data>/tilt_modules/<host>/<path>``, the URL without its
scheme, and extensions such as helm_remote find their root by walking up from their own directory
to the one that holds ``tilt_modules`` (docs/design.md, "The data directory"). The store's
checkout is ``<host>/<path>@<ref>`` there, as Go's module cache names ``<module>@<version>``
(``@HEAD`` for the default branch), with ``+<namespace>/<name>`` of the Secret it was fetched
with: Tilt has one working tree per URL and switches its ref, but two ExtensionRepos may want two
refs of one URL at once, and a repo with credentials never shares what it fetched. So a clone
of Tilt's own, when Tilt shares the data dir, is beside the store's checkouts, never one of them;
and as a checkout's name holds an ``@`` and the directories of a repo's path never do, no
checkout is ever inside another's (``https://h/a`` and ``https://h/a/b``).

Every name is the URL's own text with all but RFC 3986's unreserved characters percent-encoded,
a leading ``.`` too, so none is empty, ``.``, ``..`` or hidden or holds a ``/``: no URL names a
directory outside ``tilt_modules``, and for URLs that pass
:func:`~tilt_operator.gitstore.urls.parse_repo_url` (host names of letters, digits, ``-`` and
``.``; ssh users without ``@``) two URLs share a checkout only when they name the same repo (the
host's case, a trailing ``/``). Long names end in a digest instead (``=`` marks it).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import PurePosixPath
from urllib.parse import SplitResult, quote, urlsplit

from tilt_operator.gitstore.git import FULL_COMMIT

CHECKOUTS = "tilt_modules"
# Where checkouts lived before: the store moves each one out on its next sync (store.py).
OLD_CHECKOUTS = "repos"

# A checkout's name (two of these and an '@') and the temp and lock names made from it stay
# within NAME_MAX (255).
_NAME_LIMIT = 100
# Components of a longer repo path make one name: the whole path stays well within PATH_MAX.
_PATH_LIMIT = 400
_SEGMENT = re.compile(r"/*[^/]+")
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9_.-]+")


def checkout_dir(url: str, ref: str, secret: str | None) -> PurePosixPath:
    """The checkout of (url, ref, Secret ``namespace/name``), relative to ``tilt_modules``.

    ``https://github.com/tilt-dev/tilt-extensions`` with no ref is
    ``github.com/tilt-dev/tilt-extensions@HEAD``; ``ssh://git@example.com:2222/org/repo.git`` at
    ``v1`` with Secret ``ns/key`` is ``git@example.com_2222/org/repo.git@v1+ns%2Fkey``.
    """
    parts = _split(url)
    *directories, name = _path(parts.path) or [""]
    return PurePosixPath(_host(parts), *directories, f"{name}@{_variant(ref, secret)}")


def _split(url: str) -> SplitResult:
    try:
        return urlsplit(url)
    except ValueError:  # a malformed host ("[..."), which parse_repo_url refuses: all of it a path
        return SplitResult("", "", url, "", "")


def _host(parts: SplitResult) -> str:
    """``host``, ``host_port``, ssh's ``user@host``: no host name holds ``_`` or ``@``; ``_file`` for file:///."""
    name = _escape(parts.hostname) or f"_{_escape(parts.scheme)}"
    port = parts.netloc.rpartition("@")[2].partition(":")[2]
    if port:
        name = f"{name}_{_escape(port)}"
    if parts.scheme == "ssh" and parts.username:  # never https's: a user part there may be a token
        name = f"{_escape(parts.username)}@{name}"
    return _bounded(name)


def _path(path: str) -> list[str]:
    """One name per component of the repo's path; ``//`` stays apart from ``/`` (``%2F`` leads the next name)."""
    names = [_escape(segment.removeprefix("/")) for segment in _SEGMENT.findall(path)]
    joined = "/".join(names)
    return [f"={_digest(joined)}"] if len(joined) > _PATH_LIMIT else [_bounded(name) for name in names]


def _variant(ref: str, secret: str | None) -> str:
    """The ref, then ``+`` and the Secret: ``HEAD`` and a commit id's case mean what they always do."""
    ref = ref.lower() if FULL_COMMIT.fullmatch(ref) else ref or "HEAD"
    return _bounded(_escape(ref) + (f"+{_escape(secret)}" if secret else ""))


def _escape(text: str | None) -> str:
    """Percent-encoding of all but the unreserved characters, and of a leading ``.``: never a path of its own."""
    escaped = quote(text or "", safe="")
    return "%2E" + escaped[1:] if escaped.startswith(".") else escaped


def _bounded(name: str) -> str:
    return name if len(name) <= _NAME_LIMIT else f"{name[:80]}={_digest(name)}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def old_checkout_dir(url: str, ref: str, secret: str | None) -> PurePosixPath:
    """Where the layout before ``tilt_modules`` kept the checkout, relative to ``repos``: ``<host>/<slug>-<digest>``."""
    try:
        netloc, path = urlsplit(url)[1:3]
    except ValueError:
        netloc, path = "", url
    commit_pin = FULL_COMMIT.fullmatch(ref)
    key = f"{url}\n{ref.lower() if commit_pin else ref}" + (f"\nsecret {secret}" if secret else "")
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    host = _slug(netloc.rpartition("@")[2].lower(), 100) or "no-host"
    slug = _slug(path, 80)
    return PurePosixPath(host, f"{slug}-{digest}" if slug else digest)


def _slug(text: str, limit: int) -> str:
    return _UNSAFE_RUN.sub("-", text)[:limit].strip(".-")
