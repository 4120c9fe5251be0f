"""One Tiltfile run inside the worker process: Starlark, its builtins, loads and error messages.

Only ``engine.worker`` imports this module, so starlark-go is only ever loaded in a throw-away
process (DESIGN.md section 6: a crash there must be a failed run, not a dead operator).

How loads work with a binding that has none: every file of the load graph is found and rewritten
first (``engine.loads``), then the files run in one Starlark interpreter, dependencies first, each
exactly once. Starlark functions cannot leave the interpreter (the binding cannot convert them to
Python), so a loaded module publishes the names its loaders asked for in a dict global of its own,
and each load statement became assignments from that dict. Between files every other global is
dropped and the builtins are set again, so a file sees only the builtins and what it loaded.
Consequences worth knowing: a loaded file runs to completion before its loader starts, and
relative paths in ``read_file`` are resolved against the file that is running at the time of the
call.

The dialect is Tilt's: ``while``, recursion, sets and top-level ``if``/``for`` are allowed, so a
runaway Tiltfile is possible and is stopped from outside by the worker's time and memory limits.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import starlark_go

from tilt_operator.engine import loads, local_resources
from tilt_operator.engine.builtins import BuiltinSpec, build_object, starlark_type
from tilt_operator.engine.protocol import EVENT_FILE, EVENT_PRINT, EVENT_WARNING, RunRequest, file_signature
from tilt_operator.messages import quoted

Emit = Callable[[str, Any], None]

# Printed text and warnings stop here, so a Tiltfile printing in a loop cannot flood the operator.
TEXT_LIMIT = 1 << 20
_EXPORTS_PREFIX = "__tilt_module_"
_FRAME = re.compile(r"^\s*(?P<file>.*):(?P<line>\d+):(?P<column>\d+): in .*$")
_UNDEFINED = re.compile(r"undefined: (\w+)")

starlark_go.configure_starlark(allow_set=True, allow_global_reassign=True, allow_recursion=True)


def warm_up() -> None:
    """Have the Go runtime make its start-up reservations now, so that they can be measured."""
    starlark_go.Starlark().exec("pass\n")


class TiltfileError(Exception):
    """The run failed; the message is what the user sees, starting with file:line:column."""


@dataclass(frozen=True)
class _Requester:
    """Where a loaded name was first asked for, so a missing export is reported there."""

    path: Path
    line: int
    column: int
    module: str


@dataclass
class _Module:
    """One file of the load graph; ``exports`` grows while its loaders are being planned."""

    index: int
    path: Path
    root: Path
    source: str = ""
    exports: dict[str, _Requester] = field(default_factory=dict)

    @property
    def exports_name(self) -> str:
        return f"{_EXPORTS_PREFIX}{self.index}__"

    def program(self) -> tuple[str, int]:
        """The text to run and the line number of its export line (0 when it exports nothing)."""
        text = self.source if self.source.endswith("\n") or not self.source else self.source + "\n"
        if not self.exports:
            return text, 0
        return text + loads.export_line(self.exports_name, list(self.exports)), text.count("\n") + 1


class Session:
    """Runs one request; ``emit`` receives print, warning and file events as they happen."""

    def __init__(self, request: RunRequest, kinds: Mapping[str, BuiltinSpec], emit: Emit) -> None:
        self._request = request
        self._emit = emit
        self._kinds = kinds
        self._objects: dict[tuple[str, str], dict[str, Any]] = {}
        self._files: set[Path] = set()
        self._modules: dict[Path, _Module] = {}
        self._order: list[_Module] = []
        self._running: _Module | None = None
        self._failure: tuple[str, BaseException] | None = None
        self._text_left = TEXT_LIMIT

    def run(self) -> tuple[list[dict[str, Any]], str | None]:
        """The registered objects, in order, and the error (None when the run succeeded)."""
        try:
            self._plan_main()
            self._execute()
        except TiltfileError as error:
            return [], str(error)
        return list(self._objects.values()), None

    # Planning: read every file of the load graph and rewrite its loads.

    def _plan_main(self) -> None:
        path, root = self._request.path, self._request.root
        try:
            path = loads.confine(path, root, what="Tiltfile")
        except ValueError as error:
            raise TiltfileError(str(error)) from None
        self._record_file(path)
        try:
            source = _read_text(path)
        except (OSError, ValueError) as error:
            raise TiltfileError(f"cannot read Tiltfile {path}: {_reason(error)}") from None
        self._plan(path, root.resolve(), source, chain=())

    def _plan(self, path: Path, root: Path, source: str, chain: tuple[Path, ...]) -> _Module:
        module = self._modules[path] = _Module(len(self._modules), path, root)
        source = loads.rewrite_namespaces(source)
        try:
            statements = loads.find_loads(source)
        except loads.LoadError as error:
            raise TiltfileError(f"{path}:{error.line}:{error.column}: {error}") from None
        replacements = []
        for statement in statements:
            dependency = self._plan_load(module, statement, (*chain, path))
            for _, exported in statement.bindings:
                requester = _Requester(path, statement.line, statement.column, statement.module)
                dependency.exports.setdefault(exported, requester)
            replacements.append((statement, loads.assignments(statement, dependency.exports_name)))
        module.source = loads.rewrite(source, replacements)
        self._order.append(module)
        return module

    def _plan_load(self, loader: _Module, statement: loads.LoadStatement, chain: tuple[Path, ...]) -> _Module:
        where = f"{loader.path}:{statement.line}:{statement.column}"
        try:
            target = loads.resolve(
                statement.module, loader=loader.path, loader_root=loader.root, ext_roots=self._request.ext_roots
            )
        except ValueError as error:
            raise TiltfileError(f"{where}: {error}") from None
        if target.path in chain:
            cycle = " -> ".join(str(path) for path in (*chain[chain.index(target.path) :], target.path))
            raise TiltfileError(f"{where}: load: cycle: {cycle}")
        if target.path in self._modules:
            return self._modules[target.path]
        self._record_file(target.path)
        try:
            source = _read_text(target.path)
        except (OSError, ValueError) as error:
            raise TiltfileError(f"{where}: load: cannot read {target.path}: {_reason(error)}") from None
        return self._plan(target.path, target.root, source, chain)

    # Execution: run the planned files, dependencies first.

    def _execute(self) -> None:
        starlark = starlark_go.Starlark(print=self._print)
        # Keep this dict alive until the run ends: starlark-go's set() holds no reference to the
        # Python functions it is given, and calling one that was freed crashes the worker.
        builtins = self._builtins()
        starlark.set(**builtins)
        for index, module in enumerate(self._order):
            if index:
                _reset_globals(starlark, builtins)
            self._running = module
            text, export_line = module.program()
            try:
                starlark.exec(text, filename=str(module.path))
            except starlark_go.StarlarkError as error:
                raise TiltfileError(self._describe(error, module, export_line)) from None

    def _describe(self, error: starlark_go.StarlarkError, module: _Module, export_line: int) -> str:
        if self._failure is not None and isinstance(self._failure[1], MemoryError):
            raise self._failure[1]
        file, line, column, message = self._locate(error, module)
        # A syntax error there is the module's own (an unfinished last statement), not a missing name.
        on_export_line = file == str(module.path) and line == export_line
        if on_export_line and not isinstance(error, starlark_go.SyntaxError):
            return _missing_export(module, message)
        return f"{file}:{line}:{column}: {message}"

    def _locate(self, error: starlark_go.StarlarkError, module: _Module) -> tuple[str, int, int, str]:
        if isinstance(error, starlark_go.SyntaxError):
            return error.filename, error.line, error.column, error.msg
        if isinstance(error, starlark_go.ResolveError):
            first = error.errors[0]
            return str(module.path), first.line, first.column, first.msg
        if isinstance(error, starlark_go.EvalError):
            message = _failure_message(*self._failure) if self._failure else error.args[0]
            return (*_innermost_frame(error), message)
        return str(module.path), 0, 0, str(error)

    # Builtins.

    def _builtins(self) -> dict[str, Any]:
        builtins: dict[str, Any] = {name: self._kind_builtin(spec) for name, spec in self._kinds.items()}
        builtins["warn"] = self._wrap("warn", self._warn)
        builtins["read_file"] = self._wrap("read_file", self._read_file)
        builtins["tiltfile_dir"] = self._wrap("tiltfile_dir", self._tiltfile_dir)
        builtins["local_resource"] = self._wrap("local_resource", self._local_resource)
        builtins["args"] = list(self._request.args)
        return builtins

    def _tiltfile_dir(self) -> str:
        """The directory of the file running now, as Tilt's os.getcwd() gives while it loads a Tiltfile."""
        return str((self._running.path if self._running else self._request.path).parent)

    def _wrap(self, name: str, body: Callable[..., Any]) -> Callable[..., Any]:
        """A Python function Starlark may call (never a lambda: DESIGN.md section 6).

        The binding passes exception messages through Go's printf, which mangles any ``%``, so
        the failure is also kept here and the error message is taken from it.
        """

        def builtin(*args: Any, **kwargs: Any) -> Any:
            try:
                return body(*args, **kwargs)
            except TypeError as error:
                self._failure = (name, TypeError(f"{name}: {_call_problem(error)}"))
                raise
            except BaseException as error:
                self._failure = (name, error)
                raise

        builtin.__name__ = builtin.__qualname__ = name
        return builtin

    def _kind_builtin(self, spec: BuiltinSpec) -> Callable[..., Any]:
        def register(*args: Any, **kwargs: Any) -> dict[str, Any]:
            return self._register(spec, args, kwargs)

        return self._wrap(spec.name, register)

    def _register(self, spec: BuiltinSpec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        obj = build_object(spec, args, kwargs)
        key = (spec.kind, obj["metadata"]["name"])
        if self._objects.setdefault(key, obj) != obj:
            raise ValueError(
                f"{spec.name}: {spec.kind} {quoted(key[1])} is already registered with different arguments"
            )
        return obj

    def _local_resource(self, name: str, cmd: Any = None, serve_cmd: Any = None, **options: Any) -> None:
        """Tilt's local_resource as the Cmds Tilt would make: ``<name>:update`` and ``<name>:serve``."""
        if "cmd" not in self._kinds:
            raise ValueError("local_resource: no Cmd CRD is installed")
        plan = local_resources.plan(name, cmd, serve_cmd, options, self._tiltfile_dir())
        for warning in plan.warnings:
            self._warn(warning)
        for kwargs in plan.cmds:
            self._register(self._kinds["cmd"], (), kwargs)

    def _print(self, text: str) -> None:
        if self._spend(text):
            self._emit(EVENT_PRINT, text + "\n")

    def _warn(self, message: str) -> None:
        if not isinstance(message, str):
            raise ValueError(f"warn: message must be a string, got {starlark_type(message)}")
        if self._spend(message):
            self._emit(EVENT_WARNING, message)

    def _spend(self, text: str) -> bool:
        """Whether ``text`` still fits in the run's text budget; says so once when it no longer does."""
        was_left, self._text_left = self._text_left, self._text_left - len(text) - 1
        if self._text_left < 0 <= was_left:
            self._emit(EVENT_PRINT, f"[output truncated after {TEXT_LIMIT} characters]\n")
        return self._text_left >= 0

    def _read_file(self, path: str, default: str | None = None) -> str:
        """Tilt's read_file: relative to the running file, confined to its root."""
        if not isinstance(path, str):
            raise ValueError(f"read_file: path must be a string, got {starlark_type(path)}")
        assert self._running is not None
        target = loads.confine(self._running.path.parent / path, self._running.root, what="read_file")
        self._record_file(target)
        try:
            return _read_text(target)
        except FileNotFoundError:
            if default is not None:
                return default
            raise ValueError(f"read_file: {target} does not exist") from None
        except (OSError, ValueError) as error:
            raise ValueError(f"read_file: cannot read {target}: {_reason(error)}") from None

    def _record_file(self, path: Path) -> None:
        if path not in self._files:
            self._files.add(path)
            self._emit(EVENT_FILE, [str(path), file_signature(str(path))])


def _reset_globals(starlark: starlark_go.Starlark, builtins: dict[str, Any]) -> None:
    """Leave only the builtins and the modules' export dicts, as the next file should see them."""
    for name in starlark.globals():
        if name not in builtins and not name.startswith(_EXPORTS_PREFIX):
            # A function is removed all the same; only handing it back to Python fails.
            with contextlib.suppress(starlark_go.ConversionToPythonFailed):
                starlark.pop(name)
    starlark.set(**builtins)


def _innermost_frame(error: starlark_go.EvalError) -> tuple[str, int, int]:
    """The deepest Starlark frame: errors raised by builtins carry only ``<builtin>:0:0`` themselves."""
    frames = [match for match in map(_FRAME.match, error.backtrace.splitlines()) if match]
    frames = [frame for frame in frames if frame["file"] != "<builtin>"]
    if not frames:
        return error.filename, error.line, error.column
    return frames[-1]["file"], int(frames[-1]["line"]), int(frames[-1]["column"])


def _missing_export(module: _Module, message: str) -> str:
    """An error on a module's export line means a loader asked for a name the module lacks."""
    undefined = _UNDEFINED.search(message)
    name = undefined.group(1) if undefined and undefined.group(1) in module.exports else next(iter(module.exports))
    requester = module.exports[name]
    problem = f"{requester.module} does not define {quoted(name)}" if undefined else f"{requester.module}: {message}"
    return f"{requester.path}:{requester.line}:{requester.column}: load: {problem}"


def _failure_message(builtin: str, error: BaseException) -> str:
    """Our builtins raise ValueError/TypeError with the whole message; anything else is a bug."""
    if isinstance(error, ValueError | TypeError):
        return str(error)
    return f"{builtin}: internal error: {type(error).__name__}: {error}"


def _call_problem(error: TypeError) -> str:
    """Python's "f() missing 1 required positional argument: 'x'" without the Python name."""
    return re.sub(r"^\S*\(\) ", "", str(error))


def _read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _reason(error: BaseException) -> str:
    return error.strerror if isinstance(error, OSError) and error.strerror else str(error)
