"""Tilt's builtins for extensions, family by family, in the Tiltfile host: what they return and how they fail.

Each test writes a small Tiltfile of its own (written here, after Tilt's documented signatures) and
runs it through ``run_tiltfile``, as the reconciler does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import eventually
from tests.unit.test_engine import _error_at, _run
from tilt_operator.engine import RunResult
from tilt_operator.engine.protocol import TILT_VERSION
from tilt_operator.processes import alive


def _ok(tmp_path: Path, source: str, files: dict[str, str] | None = None, **options: Any) -> RunResult:
    result = _run(tmp_path, {"Tiltfile": source, **(files or {})}, **options)
    assert result.error is None, result.backtrace
    return result


# os


def test_os_path_helpers_resolve_against_the_file_executing_now(tmp_path: Path) -> None:
    source = """\
print(os.path.join('a', 'b', 'c.txt'))
print(os.path.abspath('x'))
print(os.path.basename('/p/q.txt'), os.path.dirname('/p/q.txt'))
print(os.path.exists('present.txt'), os.path.exists('absent.txt'))
print(os.path.relpath('/p/q/r', '/p'))
print(os.path.realpath('link.txt') == os.path.abspath('present.txt'))
print(os.name)
"""
    (tmp_path / "present.txt").write_text("x")
    (tmp_path / "link.txt").symlink_to(tmp_path / "present.txt")
    result = _ok(tmp_path, source)
    assert result.output.splitlines() == [
        "a/b/c.txt",
        str(tmp_path / "x"),
        "q.txt /p",
        "True False",
        "q/r",
        "True",
        "posix",
    ]


def test_the_environment_is_the_runs_own_and_putenv_reaches_local(tmp_path: Path) -> None:
    source = """\
print(os.getenv('GREETING'), os.getenv('NOPE', 'fallback'), os.environ.get('GREETING'))
os.putenv('ADDED', 'by putenv')
os.environ['ALSO'] = 'by assignment'
os.unsetenv('GREETING')
print('GREETING' in os.environ, os.getenv('GREETING'))
print(str(local('echo "$ADDED, $ALSO, ${GREETING:-gone}"', quiet=True)).strip())
"""
    env = {"GREETING": "hello", "PATH": "/usr/bin:/bin"}
    result = _ok(tmp_path, source, env=env, exec_enabled=True)
    assert result.output.splitlines() == [
        "hello fallback hello",
        "False None",
        'local: echo "$ADDED, $ALSO, ${GREETING:-gone}"',  # quiet keeps the output out of the log, not the command
        "by putenv, by assignment, gone",
    ]


def test_a_run_never_sees_an_earlier_runs_putenv(tmp_path: Path) -> None:
    first = _ok(tmp_path / "a", "os.putenv('LEFT', 'over')\nprint(os.getenv('LEFT'))\n")
    second = _ok(tmp_path / "b", "print(os.getenv('LEFT'))\n")
    assert (first.output, second.output) == ("over\n", "None\n")


# shlex, blob, encodings


def test_shlex_quotes_and_splits_as_a_shell_does(tmp_path: Path) -> None:
    source = "print(shlex.quote(\"it's\"), shlex.quote('plain'))\nprint(shlex.split('a \"b c\" d\\\\ e'))\n"
    result = _ok(tmp_path, source)
    assert result.output == '\'it\'"\'"\'s\' plain\n["a", "b c", "d e"]\n'


def test_read_file_returns_a_blob(tmp_path: Path) -> None:
    source = "b = read_file('data.txt')\nprint(type(b), b, str(b) + '!', type(blob('x')))\nb + 'x'\n"
    result = _run(tmp_path, {"Tiltfile": source, "data.txt": "content"})
    assert result.output == "blob content content! blob\n"
    _error_at(result, tmp_path / "Tiltfile", 3, "unknown binary op: blob + string")


def test_json_and_yaml_round_trip(tmp_path: Path) -> None:
    source = """\
data = read_json('data.json')
print(data['name'], data['ports'], data['nested']['ok'])
print(read_json('missing.json', default={'d': 1}))
docs = read_yaml_stream('stream.yaml')
print(len(docs), docs[1]['kind'], read_yaml('stream.yaml')['kind'] if False else 'single')
print(decode_json('{"a": [1, 2.5, null]}'), decode_yaml('a: b'))
print(decode_yaml_stream('a: 1\\n---\\nb: 2\\n'))
print(str(encode_json({'b': 1, 'a': [True]})).replace('\\n', ' '))
print(str(encode_yaml({'x': {'k': 'z'}})).strip().replace('\\n', ' | '))
print(str(encode_yaml_stream([{'a': 1}, {'b': 2}])).replace('\\n', ' | '))
"""
    files = {
        "data.json": json.dumps({"name": "svc", "ports": [80, 443], "nested": {"ok": True}}),
        "stream.yaml": "kind: A\n---\nkind: B\n",
    }
    result = _ok(tmp_path, source, files)
    assert result.output.splitlines() == [
        "svc [80, 443] True",
        '{"d": 1}',
        "2 B single",
        '{"a": [1, 2.5, None]} {"a": "b"}',
        '[{"a": 1}, {"b": 2}]',
        '{   "a": [     true   ],   "b": 1 } ',
        "x: |   k: z",
        "a: 1 | --- | b: 2 | ",
    ]
    assert str(tmp_path / "missing.json") in result.files_read


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("decode_json('{')\n", "error parsing JSON: unexpected EOF"),
        ("decode_yaml('a: [')\n", "error parsing YAML: error converting YAML to JSON: yaml: line 1: "),
        ("read_json('none.json')\n", "open {root}/none.json: no such file or directory"),
        ("encode_json(struct)\n", "unable to convert from starlark value, unsupported type *starlark.Builtin"),
    ],
)
def test_decoding_errors_say_what_failed(tmp_path: Path, source: str, message: str) -> None:
    result = _run(tmp_path, {"Tiltfile": source})
    assert result.error is not None
    assert message.format(root=tmp_path) in result.error


# Files: listdir and watch_file, confined to the run's root.


def test_listdir_lists_files_and_watch_file_makes_a_dependency(tmp_path: Path) -> None:
    files = {"d/a.txt": "", "d/sub/b.txt": "", "watched.cfg": ""}
    source = "print(listdir('d'))\nprint(listdir('d', recursive=True))\nwatch_file('watched.cfg')\n"
    result = _ok(tmp_path, source, files)
    top, recursive = result.output.splitlines()
    assert json.loads(top) == [str(tmp_path / "d/a.txt")]
    assert json.loads(recursive) == [str(tmp_path / "d/a.txt"), str(tmp_path / "d/sub/b.txt")]
    assert str(tmp_path / "watched.cfg") in result.files_read


def test_listdir_and_watch_file_stay_inside_the_root(tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    for source in ("listdir('../outside')\n", "watch_file('../outside/x')\n"):
        result = _run(tmp_path / "repo", {"Tiltfile": source})
        assert result.error is not None
        assert f"is outside {tmp_path / 'repo'}" in result.error


# config


CONFIG = """\
config.define_string('name')
config.define_bool('verbose')
config.define_string_list('to-run', args=True)
config.define_object('extra')
cfg = config.parse()
print(cfg)
print(config.main_dir == os.getcwd(), config.tilt_subcommand, config.main_path == __file__)
"""


@pytest.mark.parametrize(
    ("args", "printed"),
    [
        ([], "{}"),
        (["--name", "n", "--verbose", "a", "b"], '{"name": "n", "verbose": True, "to-run": ["a", "b"]}'),
        # An object's numbers are floats, as Tilt decodes them.
        (["--name=n", "--extra", '{"k": [1]}'], '{"name": "n", "extra": {"k": [1.0]}}'),
    ],
)
def test_config_parses_args_as_tilt_does(tmp_path: Path, args: list[str], printed: str) -> None:
    result = _ok(tmp_path, CONFIG, args=args)
    assert result.output.splitlines() == [printed, "True up True"]


def test_config_reads_tilt_config_json_and_args_win(tmp_path: Path) -> None:
    files = {"tilt_config.json": json.dumps({"name": "from file", "verbose": True})}
    result = _ok(tmp_path, CONFIG, files, args=["--name", "from args"])
    assert result.output.splitlines()[0] == '{"name": "from args", "verbose": True}'
    assert str(tmp_path / "tilt_config.json") in result.files_read


def test_a_tilt_config_json_that_leads_out_of_the_runs_root_is_refused(tmp_path: Path) -> None:
    """A symlink in a repo must not read a file outside it (the operator's token, say) as settings."""
    root = tmp_path / "repo"
    root.mkdir()
    secret = tmp_path / "outside.json"
    secret.write_text(json.dumps({"name": "a secret of the machine's"}))
    (root / "tilt_config.json").symlink_to(secret)
    result = _run(root, {"Tiltfile": CONFIG})
    assert result.error is not None
    assert "config.parse: " in result.error
    assert f"is outside {root}" in result.error
    assert "a secret of the machine's" not in result.output + result.error


@pytest.mark.parametrize(
    ("source", "args", "message"),
    [
        ("config.parse()\n", ["pos"], 'positional CLI args ("pos") were specified, but none were expected.'),
        (
            "config.define_string('a')\nconfig.parse()\n",
            ["--b", "x"],
            "invalid Tiltfile config args: unknown flag: --b",
        ),
        (
            "config.define_string('a')\nconfig.parse()\n",
            ["--a", "1", "--a", "2"],
            "string settings can only be specified once",
        ),
        ("config.parse()\nconfig.define_bool('late')\n", [], "config.define_bool cannot be called after config.parse"),
    ],
)
def test_config_errors(tmp_path: Path, source: str, args: list[str], message: str) -> None:
    result = _run(tmp_path, {"Tiltfile": source}, args=args)
    assert result.error is not None
    assert message in result.error


# local()


def test_local_is_refused_while_process_execution_is_off(tmp_path: Path) -> None:
    result = _run(tmp_path, {"Tiltfile": "local('touch made')\n"})
    _error_at(
        result,
        tmp_path / "Tiltfile",
        1,
        "local: running commands is off in this operator (start it with TILT_OPERATOR_EXEC=1, "
        "or `tilt-operator dev`, where it is on)",
    )
    assert not (tmp_path / "made").exists()


def test_local_runs_in_the_files_directory_and_logs_its_output(tmp_path: Path) -> None:
    source = "out = local('pwd; echo two >&2')\nprint('got', str(out).strip())\nlocal(['true'], echo_off=True)\n"
    result = _ok(tmp_path, source, exec_enabled=True, env={"PATH": "/usr/bin:/bin"})
    echo, *printed, got = result.output.splitlines()
    assert echo == "local: pwd; echo two >&2"
    assert sorted(printed) == [f" → {tmp_path}", " → two"]  # stdout and stderr, each as it comes
    assert got == f"got {tmp_path}"


def test_local_takes_stdin_env_and_dir(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    source = "print(str(local('cat; echo $X; pwd', stdin='in\\n', env={'X': 'x'}, dir='sub', quiet=True)))\n"
    result = _ok(tmp_path, source, exec_enabled=True, env={"PATH": "/usr/bin:/bin"})
    assert result.output == f"local: cat; echo $X; pwd\nin\nx\n{tmp_path / 'sub'}\n\n"


def test_a_failing_local_fails_the_run_as_in_tilt(tmp_path: Path) -> None:
    result = _run(
        tmp_path, {"Tiltfile": "local('echo out; exit 3', quiet=True)\n"}, exec_enabled=True, env={"PATH": "/bin"}
    )
    assert result.error is not None
    assert result.error.endswith('command "echo out; exit 3" failed.')  # the first line: the status is one line
    assert result.backtrace is not None
    assert "error: exit status 3\nstdout:\nout\n" in result.backtrace


def test_local_stops_at_the_time_limit(tmp_path: Path) -> None:
    result = _run(tmp_path, {"Tiltfile": "local('sleep 60')\n"}, exec_enabled=True, env={"PATH": "/bin"}, timeout=1)
    assert result.error == "Tiltfile timed out after 1s"


# local_resource, links, probes, trigger modes


def test_local_resource_is_registered_as_the_objects_tilt_uses(tmp_path: Path) -> None:
    source = """\
local_resource('db', serve_cmd=('./db',))
local_resource(
    'Web App', 'make', ['src', '/abs'], TRIGGER_MODE_MANUAL, ['db'], ['*.tmp'], False, './serve',
    links=[link('localhost:8000', 'app'), 'http://x'], env={'A': '1'}, serve_env={'B': '2'},
    readiness_probe=probe(period_secs=5, http_get=http_get_action(port=8000, path='/health')),
    dir='.', serve_dir='srv', labels=['frontend'],
)
"""
    result = _ok(tmp_path, source)
    assert result.warnings == []
    by_name = {(obj["kind"], obj["metadata"]["name"]): obj for obj in result.objects}
    assert sorted(by_name) == [
        ("Cmd", "db.serve"),
        ("Cmd", "web-app.serve"),
        ("Cmd", "web-app.update"),
        ("FileWatch", "local.web-app"),
        ("UIButton", "db.trigger"),
        ("UIButton", "web-app.trigger"),
    ]
    annotations = {
        "tilt.dev/resource": "Web App",
        "tilt.dev/resource-deps": "db",
        # Go's URL parser reads "localhost:" as a scheme, so Tilt adds no http:// to this one.
        "tilt.dev/links": '[{"name":"app","url":"localhost:8000"},{"url":"http://x"}]',
        "tilt.dev/labels": "frontend",
    }
    trigger = by_name[("UIButton", "web-app.trigger")]
    assert trigger["metadata"]["annotations"] == {**annotations, "tilt.dev/name": "Web App:trigger"}
    assert trigger["spec"]["location"] == {"componentType": "Resource", "componentID": "Web App"}
    watch = by_name[("FileWatch", "local.web-app")]
    assert watch["spec"] == {
        "watchedPaths": [str(tmp_path / "src"), "/abs"],
        "ignores": [{"basePath": str(tmp_path), "patterns": ["*.tmp"]}],
    }
    update = by_name[("Cmd", "web-app.update")]
    assert update["metadata"]["annotations"] == {**annotations, "tilt.dev/name": "Web App:update"}
    # Manual: a file change does not restart it, the trigger does; auto_init=False: it waits for one.
    assert update["spec"] == {
        "args": ["sh", "-c", "make"],
        "dir": str(tmp_path),
        "env": ["A=1"],
        "restartOn": {"uiButtons": ["web-app.trigger"]},
        "startOn": {"uiButtons": ["web-app.trigger"]},
    }
    serve = by_name[("Cmd", "web-app.serve")]
    assert serve["metadata"]["annotations"]["tilt.dev/start-after"] == "Web App:update"
    assert serve["spec"] == {
        "args": ["sh", "-c", "./serve"],
        "dir": str(tmp_path / "srv"),
        "env": ["B=2"],
        # Tilt's probe(): a number not given is 0, the kubelet's default, and left out as Tilt leaves it.
        "readinessProbe": {"periodSeconds": 5, "handler": {"httpGet": {"port": 8000, "path": "/health"}}},
    }
    assert by_name[("Cmd", "db.serve")]["spec"] == {
        "args": ["./db"],
        "dir": str(tmp_path),
        "restartOn": {"uiButtons": ["db.trigger"]},
    }


def test_auto_deps_restart_the_update_and_trigger_mode_sets_the_default(tmp_path: Path) -> None:
    auto = _ok(tmp_path / "auto", "local_resource('b', 'make', ['src'])\n")
    update = next(obj for obj in auto.objects if obj["metadata"]["name"] == "b.update")
    assert update["spec"]["restartOn"] == {"uiButtons": ["b.trigger"], "fileWatches": ["local.b"]}
    assert "startOn" not in update["spec"]
    # trigger_mode() applies to every resource without one, wherever it is called, as in Tilt.
    manual = _ok(tmp_path / "manual", "local_resource('b', 'make', ['src'])\ntrigger_mode(TRIGGER_MODE_MANUAL)\n")
    update = next(obj for obj in manual.objects if obj["metadata"]["name"] == "b.update")
    assert update["spec"]["restartOn"] == {"uiButtons": ["b.trigger"]}


def test_trigger_modes_are_tilt_values(tmp_path: Path) -> None:
    result = _ok(tmp_path, "print(TRIGGER_MODE_AUTO, type(TRIGGER_MODE_MANUAL), bool(TRIGGER_MODE_AUTO))\n")
    assert result.output == "TRIGGER_MODE_AUTO TriggerMode True\n"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("local_resource('a')", "local_resource must have a cmd and/or a serve_cmd, but both were empty"),
        ("local_resource('a', serve_cmd='x', dir='d')", "'dir' only affects 'cmd', not 'serve_cmd'"),
        ("local_resource('a', 'x', serve_dir='d')", "'serve_dir' specified but 'serve_cmd' is empty"),
        ("local_resource('a', 'x')\nlocal_resource('a', 'y')", 'local_resource named "a" already exists'),
        ("local_resource('a', 'x', resource_deps=['a'])", "resource a specified a dependency on itself"),
        (
            "local_resource('a', 'x', resource_deps=['b'])\nlocal_resource('b', 'x', resource_deps=['a'])",
            "cycle detected in resource dependency graph: a -> b -> a",
        ),
        ("local_resource('a', 'x', trigger_mode=1)", 'for parameter "trigger_mode": got int, want TriggerMode'),
        (
            "local_resource('a', 'x', resource_deps='b')",
            'for parameter "resource_deps": got string, want starlark.Sequence',
        ),
        ("local_resource('a/b', 'x')", "'a/b' cannot be a name"),
    ],
)
def test_local_resource_refuses_what_tilt_refuses(tmp_path: Path, source: str, message: str) -> None:
    result = _run(tmp_path, {"Tiltfile": source + "\n"})
    assert result.error is not None
    assert message in result.error


def test_an_unknown_resource_dep_is_dropped_with_a_warning(tmp_path: Path) -> None:
    result = _ok(tmp_path, "local_resource('a', 'x', resource_deps=['nope'])\n")
    assert result.warnings == ["resource a specified a dependency on unknown resource nope - dependency ignored"]
    update = next(obj for obj in result.objects if obj["metadata"]["name"] == "a.update")
    assert "tilt.dev/resource-deps" not in update["metadata"]["annotations"]


def test_probe_actions_and_links_are_typed_structs(tmp_path: Path) -> None:
    source = """\
print(link('http://x', 'n'))
print(probe(exec=exec_action(['true'])))
print(tcp_socket_action(5432))
"""
    result = _ok(tmp_path, source)
    assert result.output.splitlines() == [
        'link(name = "n", url = "http://x")',
        'probe(exec = ExecAction(command = ["true"]), failure_threshold = 0, http_get = None, '
        "initial_delay_secs = 0, period_secs = 0, success_threshold = 0, tcp_socket = None, timeout_secs = 0)",
        'TCPSocketAction(host = "", port = 5432)',
    ]
    bad = _run(tmp_path, {"Tiltfile": "probe()\n"})
    assert bad.error is not None
    assert bad.error.endswith("Tiltfile:1:6: exactly one of exec, http_get, or tcp_socket must be specified")


# v1alpha1: the kinds and their *_spec helpers, as the uibutton extension uses them.


def test_spec_helpers_build_what_the_kinds_accept(tmp_path: Path) -> None:
    source = """\
inputs = [
    v1alpha1.ui_input_spec(name='MSG', label='Message', text=v1alpha1.ui_text_input_spec(default_value='hi')),
    v1alpha1.ui_input_spec(name='LOUD', bool=v1alpha1.ui_bool_input_spec(true_string='yes')),
    v1alpha1.ui_input_spec(name='WHO', choice=v1alpha1.ui_choice_input_spec(choices=['a', 'b'])),
]
v1alpha1.ui_button(name='say', text='Say', inputs=inputs,
                   location=v1alpha1.ui_component_location(component_type='Global', component_id='nav'))
v1alpha1.cmd(name='btn-say', args=['echo'], start_on=v1alpha1.start_on_spec(ui_buttons=['say']))
print(v1alpha1.restart_on_spec(ui_buttons=['x']))
"""
    result = _ok(tmp_path, source)
    button, cmd = result.objects
    assert button["spec"]["inputs"] == [
        {"name": "MSG", "label": "Message", "text": {"defaultValue": "hi"}},
        {"name": "LOUD", "bool": {"trueString": "yes"}},
        {"name": "WHO", "choice": {"choices": ["a", "b"]}},
    ]
    assert button["spec"]["location"] == {"componentType": "Global", "componentID": "nav"}
    assert cmd["spec"]["startOn"] == {"uiButtons": ["say"]}
    assert result.output == 'restart_on_spec(uiButtons = ["x"])\n'


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("v1alpha1.ui_text_input_spec(colour='x')\n", "v1alpha1.ui_text_input_spec: unknown argument 'colour'"),
        ("v1alpha1.start_on_spec(ui_buttons=3)\n", "argument 'ui_buttons' must be a list of strings, got int"),
        ("v1alpha1.config_map(name='x')\n", "v1alpha1.config_map: this kind belongs to Tilt's own API server"),
    ],
)
def test_spec_helper_errors(tmp_path: Path, source: str, message: str) -> None:
    result = _run(tmp_path, {"Tiltfile": source})
    assert result.error is not None
    assert message in result.error


# Settings, the engine's builtins, and the rest.


def test_settings_are_checked_and_recorded(tmp_path: Path) -> None:
    source = """\
version_settings(check_updates=False, constraint='>=0.30.0')
update_settings(max_parallel_updates=2)
ci_settings(timeout='30m')
analytics_settings(enable=False)
secret_settings(disable_scrub=True)
watch_settings(ignore=['*.log'])
"""
    result = _ok(tmp_path, source)
    assert result.output.splitlines()[0] == (
        'version_settings(check_updates=False, constraint=">=0.30.0"): recorded; Tilt\'s settings have no effect here'
    )
    assert len(result.output.splitlines()) == 6
    bad = _run(tmp_path, {"Tiltfile": "version_settings(colour=1)\n"})
    assert bad.error is not None
    assert bad.error.endswith('version_settings: unexpected keyword argument "colour"')


def test_version_settings_checks_the_version_tilt_version_says(tmp_path: Path) -> None:
    """The host checks constraints against the release `tilt version` names: the two must agree."""
    _ok(tmp_path / "same", f"version_settings(constraint='={TILT_VERSION}')\n")
    newer = _run(tmp_path / "newer", {"Tiltfile": f"version_settings(constraint='>{TILT_VERSION}')\n"})
    assert newer.error is not None
    assert newer.error.endswith(
        f"you are running Tilt version {TILT_VERSION}, which doesn't match the version constraint specified in "
        f"your Tiltfile: '>{TILT_VERSION}'"
    )


@pytest.mark.parametrize("builtin", ["docker_build", "filter_yaml", "custom_build", "kustomize", "docker_compose"])
def test_the_engines_builtins_exist_and_say_why_they_fail(tmp_path: Path, builtin: str) -> None:
    result = _run(tmp_path, {"Tiltfile": f"{builtin}('anything')\n"})
    _error_at(
        result,
        tmp_path / "Tiltfile",
        1,
        f"{builtin} belongs to Tilt's image-build and deploy engine, which this operator does not run",
    )


def test_k8s_yaml_registers_one_kubernetes_apply_per_resource_as_tilt_groups_them(tmp_path: Path) -> None:
    """A workload and the Service that selects its pods are one resource, the rest Tilt's `uncategorized`."""
    app = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
"""
    source = "k8s_yaml('app.yaml')\nk8s_resource('web', port_forwards='8080:80', labels=['frontend'])\n"
    result = _ok(tmp_path, source, {"app.yaml": app})
    web, rest = result.objects
    assert [obj["kind"] for obj in result.objects] == ["KubernetesApply", "KubernetesApply"]
    assert [web["metadata"]["name"], rest["metadata"]["name"]] == ["web", "uncategorized"]
    assert web["metadata"]["annotations"] == {"tilt.dev/resource": "web", "tilt.dev/labels": "frontend"}
    assert web["spec"]["cluster"] == "default"
    forward = {"localPort": 8080, "containerPort": 80, "host": ""}
    assert web["spec"]["portForwardTemplateSpec"] == {"forwards": [forward]}
    kinds = [line for line in web["spec"]["yaml"].splitlines() if line.startswith("kind:")]
    assert kinds == ["kind: Service", "kind: Deployment"]
    assert "name: settings" in rest["spec"]["yaml"]


def test_k8s_custom_deploy_is_a_kubernetes_apply_of_its_commands(tmp_path: Path) -> None:
    """As in Tilt: no YAML, the commands as applyCmd and deleteCmd, and deps as the FileWatch k8s:NAME."""
    source = (
        "k8s_custom_deploy('chart', apply_cmd=['helm', 'upgrade'], delete_cmd='helm uninstall', deps=['values.yaml'],\n"
        "                  apply_env={'RELEASE': 'web'})\n"
        "k8s_resource('chart', labels=['helm'])\n"
    )
    result = _ok(tmp_path, source)
    watch, apply = result.objects
    assert [watch["kind"], apply["kind"]] == ["FileWatch", "KubernetesApply"]
    assert watch["metadata"]["name"] == "k8s.chart"
    assert watch["spec"]["watchedPaths"] == [str(tmp_path / "values.yaml")]
    assert apply["metadata"]["annotations"] == {"tilt.dev/resource": "chart", "tilt.dev/labels": "helm"}
    assert apply["spec"] == {
        "cluster": "default",
        "timeout": "30s",
        "applyCmd": {"args": ["helm", "upgrade"], "dir": str(tmp_path), "env": ["RELEASE=web"]},
        "deleteCmd": {"args": ["sh", "-c", "helm uninstall"], "dir": str(tmp_path)},
        "restartOn": {"fileWatches": ["k8s.chart"]},
    }


def test_k8s_context_and_namespace_name_the_operators_own_cluster(tmp_path: Path) -> None:
    result = _ok(tmp_path, "print(k8s_context(), k8s_namespace())\n")
    assert result.output == "default default\n"


def test_load_dynamic_exit_and_sys(tmp_path: Path) -> None:
    source = "lib = load_dynamic('lib.star')\nprint(lib['x'], sys.argv)\nexit()\nprint('never')\n"
    result = _ok(tmp_path, source, {"lib.star": "x = 42\n"})
    assert result.output == '42 ["tilt", "up"]\n'


def test_what_local_started_goes_with_the_run_at_the_time_limit(tmp_path: Path) -> None:
    """A command's own children too: the host's process group is killed whole."""
    pidfile = tmp_path / "pid"
    source = f"local('sleep 300 & echo $! > {pidfile}; wait')\n"
    result = _run(tmp_path, {"Tiltfile": source}, exec_enabled=True, env={"PATH": "/usr/bin:/bin"}, timeout=2)
    assert result.error == "Tiltfile timed out after 2s"
    pid = int(pidfile.read_text())
    eventually(lambda: not alive(pid), timeout=5, what="the backgrounded sleep to be gone")
