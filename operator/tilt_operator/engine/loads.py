"""Starlark ``load()`` and Tilt's ``include()`` for the Tiltfile engine: find, resolve, rewrite.

starlark-go's Python binding has no ``load()`` (DESIGN.md section 6), and a builtin cannot run
Starlark while Starlark is running (the binding holds a lock for the whole ``exec``). So the
engine handles loads before it runs anything: it finds each file's top-level load statements
here, runs the loaded files first, and replaces each statement by plain assignments from the
loaded module's exports, keeping every line where it was so errors still name the right line.

``include('<file>')`` is a load that binds nothing: the included file runs (once) and registers
into the same run. Tilt's namespaced spellings that starlark-go cannot express (it has no
attribute namespaces) are rewritten token by token first: ``v1alpha1.<builtin>`` becomes
``<builtin>`` and ``os.getcwd()`` becomes ``tiltfile_dir()``, each on its own line.

Called by ``engine.session`` inside the worker process.
"""

from __future__ import annotations

import ast
import io
import json
import tokenize
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tilt_operator import paths
from tilt_operator.engine.protocol import ExtensionRoots
from tilt_operator.messages import quoted

EXT_PREFIX = "ext://"
EXTENSION_FILE = "Tiltfile"
_OPENERS, _CLOSERS = "([{", ")]}"
_STATEMENTS = ("load", "include")
# Tilt's dotted names -> what this engine calls them.
_NAMESPACED = {("v1alpha1",): None, ("os", "getcwd"): "tiltfile_dir"}


class LoadError(Exception):
    """A load statement that cannot be honoured; ``line``/``column`` locate it (1-based)."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


@dataclass(frozen=True)
class LoadStatement:
    """``load('<module>', 'a', b='c')``: module as written, (local, exported) name pairs, and where.

    ``line`` and ``column`` (1-based) locate ``load`` for messages; ``end_line`` and ``end_offset``
    (0-based, just past the closing parenthesis) bound the text that ``rewrite`` replaces.
    """

    module: str
    bindings: tuple[tuple[str, str], ...]
    line: int
    column: int
    end_line: int
    end_offset: int
    include: bool = False


def _tokens(source: str) -> list[tokenize.TokenInfo]:
    """The significant tokens; none for source Python's tokenizer cannot read (Starlark will say why)."""
    try:
        return [
            token
            for token in tokenize.generate_tokens(io.StringIO(source).readline)
            if token.type not in (tokenize.COMMENT, tokenize.NL)
        ]
    except (tokenize.TokenError, SyntaxError):
        return []


def find_loads(source: str) -> list[LoadStatement]:
    """Every top-level load and include statement, in order."""
    if not any(statement in source for statement in _STATEMENTS):
        return []  # tokenizing is the costly part of a run: skip it when it cannot find anything
    tokens = _tokens(source)
    return [_parse_load(tokens, index) for index in _load_starts(tokens)]


def rewrite_namespaces(source: str) -> str:
    """Tilt's ``v1alpha1.extension_repo(...)`` and ``os.getcwd()`` in the spellings this engine has.

    Token by token, so strings and comments that mention them are left alone; only the columns
    after a rewrite on the same line move.
    """
    if not any(f"{dotted[0]}." in source for dotted in _NAMESPACED):
        return source
    tokens = _tokens(source)
    edits = [edit for index in range(len(tokens)) if (edit := _namespace_edit(tokens, index))]
    lines = source.splitlines(keepends=True)
    for line, start, end, text in sorted(edits, reverse=True):
        lines[line - 1] = lines[line - 1][:start] + text + lines[line - 1][end:]
    return "".join(lines)


def _namespace_edit(tokens: Sequence[tokenize.TokenInfo], index: int) -> tuple[int, int, int, str] | None:
    """(line, start column, end column, replacement) when a dotted Tilt name starts at ``index``."""
    for dotted, replacement in _NAMESPACED.items():
        span = 2 * len(dotted) - 1
        names, rest = tokens[index : index + span], tokens[index + span : index + span + 2]
        spelled = (
            len(names) == span
            and all(t.type == tokenize.NAME for t in names[::2])
            and tuple(t.string for t in names[::2]) == dotted
            and all(t.string == "." for t in names[1::2])
            and names[0].start[0] == names[-1].end[0]
        )
        if not spelled or not rest:
            continue
        first = names[0].start
        if replacement is None and len(rest) == 2 and rest[0].string == "." and rest[1].type == tokenize.NAME:
            return first[0], first[1], rest[1].start[1], ""
        if replacement is not None and rest[0].string == "(":
            return first[0], first[1], names[-1].end[1], replacement
    return None


def _load_starts(tokens: Sequence[tokenize.TokenInfo]) -> Iterator[int]:
    """Indexes of ``load`` names that open a top-level statement and are followed by ``(``."""
    depth = 0
    statement_start = True
    for index, token in enumerate(tokens):
        if (
            statement_start
            and depth == 0
            and token.start[1] == 0
            and token.string in _STATEMENTS
            and index + 1 < len(tokens)
            and tokens[index + 1].string == "("
        ):
            yield index
        if token.type == tokenize.OP and token.string in _OPENERS:
            depth += 1
        elif token.type == tokenize.OP and token.string in _CLOSERS:
            depth = max(depth - 1, 0)
        statement_start = token.type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)


def _parse_load(tokens: Sequence[tokenize.TokenInfo], start: int) -> LoadStatement:
    line, column = tokens[start].start
    items, end = _call_items(tokens, start + 2, line, column)
    if tokens[start].string == "include":
        if len(items) != 1 or items[0][0] is not None:
            raise LoadError("include: takes one argument, the path of a Tiltfile", line, column + 1)
        return LoadStatement(items[0][1], (), line, column + 1, end.end[0], end.end[1], include=True)
    if not items or items[0][0] is not None:
        raise LoadError("load: the first argument must be the module, a string", line, column + 1)
    module = items[0][1]
    bindings = tuple((local or exported, exported) for local, exported in items[1:])
    if not bindings:
        raise LoadError("load: statement must import at least 1 symbol", line, column + 1)
    for local, exported in bindings:
        if not exported.isidentifier() or not local.isidentifier():
            raise LoadError(f"load: {quoted(exported)} is not a valid name", line, column + 1)
        if exported.startswith("_"):
            raise LoadError(f"load: names with leading underscores are not exported: {exported}", line, column + 1)
    return LoadStatement(module, bindings, line, column + 1, end.end[0], end.end[1])


def _call_items(
    tokens: Sequence[tokenize.TokenInfo], index: int, line: int, column: int
) -> tuple[list[tuple[str | None, str]], tokenize.TokenInfo]:
    """The ``(keyword or None, string)`` arguments of a load call and its closing parenthesis."""
    items: list[tuple[str | None, str]] = []
    while index < len(tokens) and tokens[index].string != ")":
        keyword = None
        if tokens[index].type == tokenize.NAME and tokens[index + 1].string == "=":
            keyword, index = tokens[index].string, index + 2
        items.append((keyword, _string_literal(tokens[index], line, column)))
        index += 1
        if tokens[index].string == ",":
            index += 1
        elif tokens[index].string != ")":
            break
    if index >= len(tokens) or tokens[index].string != ")":
        raise LoadError("load: arguments must be string literals separated by commas", line, column + 1)
    return items, tokens[index]


def _string_literal(token: tokenize.TokenInfo, line: int, column: int) -> str:
    try:
        value = ast.literal_eval(token.string) if token.type == tokenize.STRING else None
    except (ValueError, SyntaxError):
        value = None
    if not isinstance(value, str):
        raise LoadError(f"load: arguments must be string literals, got {quoted(token.string)}", line, column + 1)
    return value


def rewrite(source: str, replacements: Sequence[tuple[LoadStatement, str]]) -> str:
    """``source`` with each load statement replaced by a one-line statement, lines kept in place.

    The replacement goes on the statement's last line, after blank lines for the others, so
    whatever follows the closing parenthesis stays on its line.
    """
    lines = source.splitlines(keepends=True)
    for statement, text in sorted(replacements, key=lambda pair: pair[0].line, reverse=True):
        first, last = statement.line - 1, statement.end_line - 1
        tail = lines[last][statement.end_offset :]
        lines[first : last + 1] = ["\n"] * (last - first) + [text + tail]
    return "".join(lines)


def assignments(statement: LoadStatement, exports_name: str) -> str:
    """``a = <exports>["a"]; b = <exports>["c"]``: a load statement as plain Starlark (``pass`` for include)."""
    if not statement.bindings:
        return "pass"
    return "; ".join(f"{local} = {exports_name}[{json.dumps(exported)}]" for local, exported in statement.bindings)


def export_line(exports_name: str, names: Sequence[str]) -> str:
    """The line appended to a loaded module that publishes the names its loaders asked for."""
    entries = ", ".join(f"{json.dumps(name)}: {name}" for name in names)
    return f"{exports_name} = {{{entries}}}\n"


@dataclass(frozen=True)
class Target:
    """A file to load and the directory that confines it and whatever it loads or reads."""

    path: Path
    root: Path


def resolve(module: str, *, loader: Path, loader_root: Path, ext_roots: ExtensionRoots) -> Target:
    """Where ``load(module)`` in ``loader`` points; ``ValueError`` says why it may not.

    Relative and absolute paths stay inside the loader's root; ``ext://`` follows Tilt's rules
    (see ``ExtensionRoots``) and stays inside that repo's extension directory.
    """
    if module.startswith(EXT_PREFIX):
        root, relative = _extension_location(module, ext_roots)
        candidate = root / relative / EXTENSION_FILE
    else:
        root, candidate = loader_root, loader.parent / module
    return Target(confine(candidate, root, what=f"load: {module}"), root.resolve())


def _extension_location(module: str, ext_roots: ExtensionRoots) -> tuple[Path, str]:
    name = module.removeprefix(EXT_PREFIX).strip("/")
    if not name:
        raise ValueError(f"load: {module}: no extension named")
    for host in sorted(ext_roots.by_load_host, key=len, reverse=True):
        if name.startswith(host + "/"):
            return ext_roots.by_load_host[host], name.removeprefix(host + "/")
    if ext_roots.default is None:
        raise ValueError(f"load: {module}: no ExtensionRepo named 'default' is ready, and no repo has that loadHost")
    return ext_roots.default, name


def confine(path: Path, root: Path, *, what: str) -> Path:
    """``path`` with symlinks resolved, or ``ValueError`` saying ``what`` left ``root``."""
    try:
        return paths.confine(path, root)
    except paths.OutsideRoot as error:
        shown = str(path) if error.resolved == path else f"{path} (which resolves to {error.resolved})"
        raise ValueError(f"{what}: {shown} is outside {root}") from None
