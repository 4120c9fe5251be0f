"""Where checkouts live: Tilt's tilt_modules/<host>/<path>, then @<ref> for each ref and Secret, safe for any URL."""

from __future__ import annotations

import itertools
from pathlib import PurePosixPath

import pytest

from tilt_operator.gitstore.layout import checkout_dir
from tilt_operator.gitstore.urls import parse_repo_url

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("url", "ref", "secret", "expected"),
    [
        # Tilt's own layout, the URL without its scheme (a .git suffix stays, as in Tilt), then the ref.
        ("https://github.com/tilt-dev/tilt-extensions", "", None, "github.com/tilt-dev/tilt-extensions@HEAD"),
        ("https://github.com/org/repo.git", "", None, "github.com/org/repo.git@HEAD"),
        ("https://gitlab.com/group/sub/project", "", None, "gitlab.com/group/sub/project@HEAD"),
        # One checkout per ref: a branch, a tag or path-like ref, a commit (in lower case), HEAD.
        ("https://github.com/org/repo", "main", None, "github.com/org/repo@main"),
        ("https://github.com/org/repo", "release/1.0", None, "github.com/org/repo@release%2F1.0"),
        ("https://github.com/org/repo", COMMIT.upper(), None, f"github.com/org/repo@{COMMIT}"),
        ("https://github.com/org/repo", "HEAD", None, "github.com/org/repo@HEAD"),
        # A Secret has checkouts of its own.
        ("https://github.com/org/repo", "v1", "ns/git-creds", "github.com/org/repo@v1+ns%2Fgit-creds"),
        # A port never reads as a host name: no host name holds '_'.
        ("https://127.0.0.1:8443/walk.git", "", None, "127.0.0.1_8443/walk.git@HEAD"),
        # ssh keeps its user, which may name another repo (ssh://alice@h/~/r is alice's).
        ("ssh://git@example.com:2222/org/repo.git", "", "ns/key", "git@example.com_2222/org/repo.git@HEAD+ns%2Fkey"),
        ("ssh://alice@example.com/~/repo", "", "ns/key", "alice@example.com/~/repo@HEAD+ns%2Fkey"),
        # A URL without a host, such as a file:// remote the store clones, by its path.
        ("file:///srv/exts", "", None, "_file/srv/exts@HEAD"),
        # Odd characters are percent-encoded, and so is a leading '.': no component is '..' or hidden.
        ("https://h/a/../b", "", None, "h/a/%2E./b@HEAD"),
        ("https://h/./.git", "", None, "h/%2E/%2Egit@HEAD"),
        ("https://h/%2e%2e/x", "", None, "h/%252e%252e/x@HEAD"),
        ("https://h/@x/=y/a b/é", "", None, "h/%40x/%3Dy/a%20b/%C3%A9@HEAD"),
        # '//' is not '/': the extra slash starts the next name.
        ("https://h//a", "", None, "h/%2Fa@HEAD"),
    ],
)
def test_a_url_maps_to_tilts_directory_and_a_checkout_per_ref(url: str, ref: str, secret: str | None, expected: str):
    assert checkout_dir(url, ref, secret) == PurePosixPath(expected)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("https://GitHub.com/org/repo", "https://github.com/org/repo"),
        ("https://github.com/org/repo/", "https://github.com/org/repo"),
        ("https://github.com:/org/repo", "https://github.com/org/repo"),
    ],
)
def test_only_spellings_of_one_repo_share_a_directory(one: str, other: str):
    assert checkout_dir(one, "", None) == checkout_dir(other, "", None)


# Different repos, or the same repo fetched differently: each must get a directory of its own.
DISTINCT = [
    ("https://h/a", "", None),
    ("https://h/a/b", "", None),  # beside the checkout of https://h/a, never inside it
    ("https://h/a", "main", None),
    ("https://h/a", "main", "ns/s"),
    ("https://h/a", "main", "ns/t"),
    ("https://h/a", "", "ns/s"),
    ("https://h/a", COMMIT, None),
    ("https://h/a.git", "", None),
    ("https://h/A", "", None),
    ("https://h/a%2Fb", "", None),
    ("https://h/a%252Fb", "", None),
    ("https://h//a", "", None),
    ("https://h/%40HEAD", "", None),
    ("https://h/a/@HEAD", "", None),
    ("https://h/a@HEAD", "", None),
    ("https://h/a%40HEAD", "", None),
    ("https://h:8443/a", "", None),
    ("https://h-8443/a", "", None),
    ("https://h.8443/a", "", None),
    ("ssh://git@h/a", "", "ns/s"),
    ("ssh://alice@h/a", "", "ns/s"),
    ("ssh://git@h:22/a", "", "ns/s"),
    ("https://h/" + "a" * 300, "", None),
    ("https://h/" + "a" * 299 + "b", "", None),
    ("https://h/" + "a/" * 300 + "x", "", None),
    ("https://h/" + "a/" * 300 + "y", "", None),
    ("https://" + "h" * 300 + "/a", "", None),
    ("https://" + "h" * 299 + "i/a", "", None),
    ("https://h/a", "r" * 300, None),
    ("https://h/a", "r" * 299 + "s", None),
]


def test_different_repos_refs_and_secrets_never_share_or_nest_their_checkouts():
    for url, _, _ in DISTINCT:
        parse_repo_url(url)  # each is a URL the operator accepts
    dirs = [checkout_dir(*key) for key in DISTINCT]
    assert len(set(dirs)) == len(dirs)
    for one, other in itertools.permutations(dirs, 2):
        assert not other.is_relative_to(one), f"{other} is inside the checkout {one}"


@pytest.mark.parametrize(
    "url",
    [
        *(url for url, _, _ in DISTINCT),
        "https://h/../../etc",
        "https://../../x",
        "https://h/" + "../" * 2000,
        "https://[::1/x",
        "../../../etc",
        "/etc/passwd",
        "",
        "https://h/\x00/\n",
        "https://user:pw@h/r",
        "ssh://git:pw@h/r",
    ],
)
@pytest.mark.parametrize("ref", ["", "main", "../../x", "a/../../b"])
def test_every_url_maps_to_safe_names_and_never_shows_a_password(url: str, ref: str):
    """Also URLs that validation refuses: the store must never build a path from one that leaves its root."""
    path = checkout_dir(url, ref, "ns/s")
    assert not path.is_absolute()
    assert len(str(path)) < 1000
    assert all(0 < len(part) <= 100 for part in path.parts[:-1])
    assert len(f".{path.name}.tmp-old-01234567") <= 255, "the longest name made from a checkout's"
    for part in path.parts:
        assert not part.startswith("."), part
        assert not {"/", "\x00", "\n"} & set(part), part
    assert "@" in path.name, "the checkout"
    assert not any("@" in part for part in path.parts[1:-1]), "the directories it is in"
    assert "pw" not in str(path)
