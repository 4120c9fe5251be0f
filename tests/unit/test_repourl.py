"""URL and ref validation: hostile inputs never reach git, and each refusal says what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from tilt_operator.gitstore.urls import InvalidRef, InvalidRepoURL, RepoURL, parse_repo_url, validate_ref


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ext::sh -c touch% /tmp/pwned", "must not contain '::'"),
        ("https://-uexploit", "host '-uexploit' must not start with '-'"),
        ("--upload-pack=touch /tmp/x", "must not start with '-'"),
        ("-c", "must not start with '-'"),
        ("https://host/$HOME", "must not contain '$'"),
        ("https://host/a\r\nb", "whitespace or control characters (found '\\r')"),
        ("https://host/a\tb", "whitespace or control characters (found '\\t')"),
        ("https://host/a\x00b", "whitespace or control characters (found '\\x00')"),
        ("https://host/a b", "whitespace or control characters (found ' ')"),
        ("https://host/a\u202eb", "whitespace or control characters"),
        ("https://user:pw@host/r", "must not contain credentials"),
        ("https://user@host/r", "must not contain credentials"),
        ("https://", "needs a host"),
        ("https:///org/repo", "needs a host"),
        ("https://host:99999/r", "invalid port"),
        ("https://ho_st/r", "not a valid host name"),
        ("https://a..b/r", "not a valid host name"),
        ("https://host/r?upload-pack=x", "query"),
        ("https://host/r#frag", "fragment"),
        ("https://github.com", "needs a repository path"),
        ("file://relative", "use file:///abs/path"),
        ("file://localhost/tmp", "use file:///abs/path"),
        ("file:///does/not/exist", "/does/not/exist is not an existing directory"),
        ("http://host/r", "plain http is not allowed: use https://host/r"),
        ("ssh://host/r", "ssh url needs a user"),
        ("ssh://:pw@host/r", "ssh url needs a user and no password"),
        ("ssh://git:pw@host/r", "ssh url needs a user and no password"),
        ("ssh://-oProxyCommand=x@host/r", "ssh url needs a user"),
        ("ssh://git@-oProxyCommand=x/r", "must not start with '-'"),
        ("ssh://git@host", "needs a repository path"),
        ("ssh://git@host:notaport/r", "invalid port"),
        ("git://host/r", "unsupported url scheme 'git'"),
        ("HTTPS://host/r", "unsupported url scheme 'HTTPS'"),
        ("git@github.com:a/b", "write it as ssh://git@github.com/a/b (with spec.secretRef)"),
        ("github.com/a/b", "must start with https://, ssh:// or file:///"),
        ("", "url is empty"),
    ],
)
def test_hostile_or_wrong_urls_are_refused_with_a_fix(url: str, message: str) -> None:
    with pytest.raises(InvalidRepoURL) as excinfo:
        parse_repo_url(url)
    assert message in str(excinfo.value)


def test_credentials_are_not_echoed_back() -> None:
    with pytest.raises(InvalidRepoURL) as excinfo:
        parse_repo_url("https://user:s3cret@host/r")
    assert "s3cret" not in str(excinfo.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/tilt-dev/tilt-extensions",
        "https://github.com/tilt-dev/tilt-extensions.git",
        "https://git.internal.example:8443/team/extensions/",
        "https://10.0.0.1/repo",
    ],
)
def test_public_https_urls_are_accepted(url: str) -> None:
    assert parse_repo_url(url) == RepoURL("https", url)


@pytest.mark.parametrize(
    "url",
    ["ssh://git@github.com/tilt-dev/tilt-extensions.git", "ssh://deploy@git.internal.example:2222/srv/git/extensions"],
)
def test_ssh_urls_with_a_user_are_accepted(url: str) -> None:
    assert parse_repo_url(url) == RepoURL("ssh", url)


def test_an_existing_absolute_directory_is_accepted(tmp_path: Path) -> None:
    url = f"file://{tmp_path}"
    assert parse_repo_url(url) == RepoURL("file", url, tmp_path)


def test_a_file_url_naming_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(InvalidRepoURL, match="is not an existing directory"):
        parse_repo_url(f"file://{tmp_path}/f")


@pytest.mark.parametrize(
    "ref",
    ["", "main", "v1.2.3", "release/1.x", "refs/heads/main", "feature_x-y", "HEAD", "a" * 40, "0123abc"],
)
def test_ordinary_refs_are_accepted(ref: str) -> None:
    validate_ref(ref)


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("-main", "must not start with '-'"),
        ("--upload-pack=x", "must not start with '-'"),
        ("ma in", "whitespace or control characters"),
        ("main\n", "whitespace or control characters"),
        ("main\x00", "whitespace or control characters"),
        ("a..b", "must not contain '..'"),
        ("a::b", "must not contain '::'"),
        ("$HOME", "must not contain '$'"),
        ("main~1", "may only contain"),
        ("main^{}", "may only contain"),
        ("a:b", "may only contain"),
        ("a@{1}", "may only contain"),
        ("heads/*", "may only contain"),
        ("a\\b", "may only contain"),
        ("/main", "must not start or end with '/'"),
        ("main/", "must not start or end with '/'"),
        ("a//b", "contain '//'"),
        ("main.", "end with '.'"),
        ("a/.hidden", "start with '.'"),
        ("main.lock", "end with '.lock'"),
    ],
)
def test_unsafe_refs_are_refused(ref: str, message: str) -> None:
    with pytest.raises(InvalidRef) as excinfo:
        validate_ref(ref)
    assert message in str(excinfo.value)


def test_both_errors_are_value_errors() -> None:
    """The handler treats ValueError as "fix the spec": no retry until it changes."""
    assert issubclass(InvalidRepoURL, ValueError)
    assert issubclass(InvalidRef, ValueError)


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/" + "a" * 5000,
        "ftp://example.com/" + "a" * 5000,
        "file://relative/" + "a" * 5000,
        "file:///no/such/" + "a" * 5000,
        "git@example.com:" + "a" * 5000,
    ],
)
def test_a_long_url_is_never_echoed_whole(url: str):
    with pytest.raises(InvalidRepoURL) as refused:
        parse_repo_url(url)
    message = str(refused.value)
    assert len(message) < 400, message
    assert "a" * 200 not in message
