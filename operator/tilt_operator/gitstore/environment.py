"""The environment every git command runs in: built from nothing, hardened, with the CAs git trusts.

git commands run as plain subprocesses with an environment built from nothing (PATH and proxy
variables only): GitPython's command runner always starts from ``os.environ`` and can add but not
remove variables, so an inherited ``GIT_SSL_NO_VERIFY``, ``GIT_DIR`` or ``GIT_CONFIG_PARAMETERS``
would silently undo the settings below. No system or global config, HOME, XDG and TMPDIR inside
the data dir, no prompts, no hooks, no submodules, https and file transports only (and ssh for a
repo whose Secret holds an ssh key), objects checked on fetch, TLS always verified. Config goes
through ``GIT_CONFIG_COUNT``/``KEY``/``VALUE``, never argv.

With ``settings.git_ca_bundle`` set, git trusts the system bundle plus that one, combined into a
file under the data dir; variables such as ``GIT_SSL_CAINFO`` are ignored like every other
inherited one. Called by :class:`~tilt_operator.gitstore.store.GitStore`.
"""

from __future__ import annotations

import logging
import os
import ssl
import tempfile
from pathlib import Path

from tilt_operator.gitstore.credentials import GitSettings
from tilt_operator.gitstore.git import GitError

logger = logging.getLogger(__name__)

Config = tuple[tuple[str, str], ...]

# Passed to every git call.
GIT_CONFIG: Config = (
    ("protocol.allow", "never"),
    ("protocol.https.allow", "always"),
    ("protocol.file.allow", "always"),
    ("http.sslVerify", "true"),
    ("core.hooksPath", os.devnull),
    ("core.fsmonitor", "false"),
    ("submodule.recurse", "false"),
    ("fetch.recurseSubmodules", "false"),
    # Rejects malformed objects and trees with '.git' or '..' entries before checkout.
    ("transfer.fsckObjects", "true"),
    # No background gc or maintenance that would outlive the lock.
    ("gc.auto", "0"),
    ("maintenance.auto", "false"),
    ("advice.detachedHead", "false"),
)
_PASSED_THROUGH = ("PATH", "http_proxy", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY", "all_proxy")
_SYSTEM_CA_FILES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem")


def hardened_env(data_dir: Path, scratch: Path, ca_bundle: Path | None, config: Config = GIT_CONFIG) -> dict[str, str]:
    """The whole environment of every git call: HOME under ``data_dir``, TMPDIR ``scratch``."""
    home = data_dir / "git" / "home"
    env = {key: os.environ[key] for key in _PASSED_THROUGH if key in os.environ}
    env |= {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "TMPDIR": str(scratch),
        "LC_ALL": "C",
        "LANGUAGE": "C",
        # git never looks for a repository at or above the data dir.
        "GIT_CEILING_DIRECTORIES": str(data_dir),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_SYSTEM": os.devnull,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "false",
        "SSH_ASKPASS": "false",
        "GIT_PROTOCOL_FROM_USER": "0",
        "GIT_ALLOW_PROTOCOL": "https:file",
        "GIT_LFS_SKIP_SMUDGE": "1",
    }
    entries = list(config)
    if ca_bundle is not None:
        entries.append(("http.sslCAInfo", str(ca_bundle)))
    return with_settings(env | {"GIT_CONFIG_COUNT": "0"}, GitSettings(tuple(entries)))


def with_settings(env: dict[str, str], settings: GitSettings) -> dict[str, str]:
    """``env`` with more config entries after its own, and more variables (a repo's credentials)."""
    result = dict(env)
    count = int(result["GIT_CONFIG_COUNT"])
    for index, (key, value) in enumerate(settings.config, start=count):
        result[f"GIT_CONFIG_KEY_{index}"] = key
        result[f"GIT_CONFIG_VALUE_{index}"] = value
    result["GIT_CONFIG_COUNT"] = str(count + len(settings.config))
    result.update(settings.env)
    return result


def combined_ca_bundle(extra: Path, directory: Path) -> Path:
    """The system's CAs plus the extra bundle, so internal servers are trusted in addition, not instead."""
    system = system_ca_file()
    if system is None:
        logger.warning("no system CA bundle found: git trusts only %s", extra)
    try:
        pem = (system.read_bytes() + b"\n" if system else b"") + extra.read_bytes()
    except OSError as err:
        raise GitError(f"cannot read the git CA bundle {extra}: {err.strerror}") from None
    target = directory / "ca-bundle.pem"
    with tempfile.NamedTemporaryFile(dir=directory, prefix=".ca-bundle-", delete=False) as tmp:
        tmp.write(pem)
    os.replace(tmp.name, target)
    return target


def system_ca_file() -> Path | None:
    """The bundle OpenSSL would use, else the usual distribution paths (git's libcurl reads these too)."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile, *_SYSTEM_CA_FILES):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None
