package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The host's builtins where Tilt's own tests (tilt_*_test.go) say nothing: what a Tiltfile author
// sees of the places where the host follows Tilt.

func TestYAMLIsReadAsTiltReadsIt(t *testing.T) {
	runCases(t, []tiltCase{
		{
			name:   "YAML 1.1 booleans",
			files:  map[string]string{"Tiltfile": "print(decode_yaml('a: yes\\nb: off\\nc: \"yes\"\\n'))\n"},
			output: "{\"a\": True, \"b\": False, \"c\": \"yes\"}\n",
		},
		{
			name:   "whole numbers are ints, as JSON says them",
			files:  map[string]string{"Tiltfile": "print(decode_yaml('[1, 2.0, 2.5, 1e3, 0x10]'))\n"},
			output: "[1, 2, 2.5, 1000, 16]\n",
		},
		{
			name:  "decode_yaml of a stream",
			files: map[string]string{"Tiltfile": "decode_yaml('a: 1\\n---\\nb: 2\\n')\n"},
			message: "expected a yaml document but found a yaml stream (documents separated by `---`). " +
				"use decode_yaml_stream instead to decode a yaml stream",
		},
		{
			name:   "a separator before the first line stays in its document",
			files:  map[string]string{"Tiltfile": "print(decode_yaml_stream('---\\na: 1\\r\\n--- # two\\nb: 2'))\n"},
			output: "[{\"a\": 1}, {\"b\": 2}]\n",
		},
		{
			name:  "a separator with more than a comment after it",
			files: map[string]string{"Tiltfile": "decode_yaml_stream('a: 1\\n--- b: 2\\n')\n"},
			error: "error reading YAML stream: invalid Yaml document separator: b: 2",
		},
		{
			name:   "defaults, None included",
			files:  map[string]string{"Tiltfile": "print(read_json('no.json', None), read_yaml('no.yaml', None), read_yaml_stream('no.yaml', []))\n"},
			output: "None None []\n",
			check:  depends("no.json", "no.yaml"),
		},
		{
			name:  "read_yaml_stream's default is a list",
			files: map[string]string{"Tiltfile": "read_yaml_stream('no.yaml', None)\n"},
			error: "read_yaml_stream: for parameter default: got NoneType, want list",
		},
	})
}

func TestEncodersReturnWhatTiltReturns(t *testing.T) {
	runCases(t, []tiltCase{
		{
			name:   "types",
			files:  map[string]string{"Tiltfile": "print(type(encode_json({})), type(encode_yaml({})), type(encode_yaml_stream([{}])))\n"},
			output: "string blob blob\n",
		},
		{
			name:   "JSON escapes HTML as Go's encoder does",
			files:  map[string]string{"Tiltfile": "print(encode_json('<a&b>'))\n"},
			output: "\"\\u003ca\\u0026b\\u003e\"\n\n",
		},
		{
			name:  "a tuple is not JSON",
			files: map[string]string{"Tiltfile": "encode_json((1, 2))\n"},
			error: "error converting object from starlark: unable to convert from starlark value, unsupported type starlark.Tuple",
		},
		{
			name:  "a number JSON writes with an exponent is not an int",
			files: map[string]string{"Tiltfile": "decode_json('1e3')\n"},
			error: "error converting JSON to Starlark: strconv.ParseInt: parsing \"1e3\": invalid syntax",
		},
	})
}

func TestArgumentsHaveTiltsNames(t *testing.T) {
	runCases(t, []tiltCase{
		{
			name: "by keyword",
			files: map[string]string{"Tiltfile": "print(decode_json(json='[1]'), decode_yaml(yaml='a: 1'), decode_yaml_stream(yaml='a: 1'))\n" +
				"warn(msg='careful')\nprint(encode_json(obj=1).strip(), str(encode_yaml_stream(objs=[1])).strip())\n" +
				"config.set_enabled_resources(resources=['a'])\nconfig.clear_enabled_resources()\nfail(msg='stop')\n"},
			output:  "[1] {\"a\": 1} [{\"a\": 1}]\n1 1\n",
			message: "stop",
			check: warned("careful", "config.set_enabled_resources has no effect here: every resource of a Tiltfile runs",
				"config.clear_enabled_resources has no effect here: every resource of a Tiltfile runs"),
		},
		{name: "warn takes a string", files: map[string]string{"Tiltfile": "warn(1)\n"}, error: "warn: for parameter msg: got int, want string"},
		{name: "fail takes one string", files: map[string]string{"Tiltfile": "fail('a', 'b')\n"}, error: "fail: got 2 arguments, want at most 1"},
		{
			name:  "set_enabled_resources takes strings",
			files: map[string]string{"Tiltfile": "config.set_enabled_resources([1])\n"},
			error: "resources must be a list of string: '1' is a starlark.Int, not a string",
		},
	})
}

func TestEnvironHasADictsMethodsOverTheRunsEnvironment(t *testing.T) {
	env := map[string]string{"A": "1", "B": "2", "PATH": os.Getenv("PATH")}
	runCases(t, []tiltCase{
		{
			name: "reading",
			files: map[string]string{"Tiltfile": "os.environ.pop('PATH')\n" +
				"print(os.environ.keys(), os.environ.values(), os.environ.items())\n" +
				"print(os.environ, len(os.environ), 'A' in os.environ, [k for k in os.environ], os.environ.get('Z', 'none'))\n"},
			options: runOptions{env: env},
			output: "[\"A\", \"B\"] [\"1\", \"2\"] [(\"A\", \"1\"), (\"B\", \"2\")]\n" +
				"{\"A\": \"1\", \"B\": \"2\"} 2 True [\"A\", \"B\"] none\n",
		},
		{
			name: "changing",
			files: map[string]string{"Tiltfile": "print(os.environ.pop('A'), os.environ.pop('A', 'gone'), os.environ.setdefault('B', 'x'))\n" +
				"print(os.environ.setdefault('C', 'c'), os.environ.popitem())\n" +
				"os.environ.update({'D': 'd'}, E='e')\nos.environ.update([('F', 'f')])\n" +
				"print(str(local('echo $C$D$E$F', quiet=True)).strip())\n"},
			options: runOptions{env: env, exec: true},
			output:  "1 gone 2\nc (\"B\", \"2\")\nlocal: echo $C$D$E$F\ncdef\n",
		},
		{
			name:    "clear",
			files:   map[string]string{"Tiltfile": "os.environ.clear()\nprint(os.environ)\n"},
			options: runOptions{env: env},
			output:  "{}\n",
		},
		{
			name:    "pop of a missing key",
			files:   map[string]string{"Tiltfile": "os.environ.pop('Z')\n"},
			options: runOptions{env: env},
			message: "pop: missing key",
		},
		{
			name:    "values are strings",
			files:   map[string]string{"Tiltfile": "os.environ.setdefault('Z')\n"},
			options: runOptions{env: env},
			message: "setdefault: putenv() value must be a string, not NoneType",
		},
	})
}

func TestLocalTakesCommandsAsTiltDoes(t *testing.T) {
	execOn := runOptions{exec: true, env: map[string]string{"PATH": os.Getenv("PATH")}}
	runCases(t, []tiltCase{
		{
			name:    "a tuple, shown as Tilt shows words",
			files:   map[string]string{"Tiltfile": "print(str(local(('echo', 'a b', 'c'), quiet=True)).strip())\n"},
			options: execOn,
			output:  "local: echo \"a b\" c\na b c\n",
		},
		{
			name:    "a script of several lines is shown as its words",
			files:   map[string]string{"Tiltfile": "local('echo a\\necho b', quiet=True)\n"},
			options: execOn,
			output:  "local: sh -c \"echo a\\necho b\"\n",
		},
		{
			name:    "a program not on the run's PATH",
			files:   map[string]string{"Tiltfile": "local(['no-such-program-here'])\n"},
			options: execOn,
			error:   "command \"no-such-program-here\" failed.\nerror: exec: \"no-such-program-here\": executable file not found in $PATH",
		},
		{
			name:    "a blob is not a command",
			files:   map[string]string{"Tiltfile": "local(blob('true'))\n"},
			options: execOn,
			error:   "a command must be a string or list of strings. found io.Blob",
		},
		{
			name:    "env is a dict of strings",
			files:   map[string]string{"Tiltfile": "local('true', env={'A': 1})\n"},
			options: execOn,
			error:   `local: for parameter "env": value is not a string: starlark.Int (1)`,
		},
		{
			name:    "a failing command's exit status",
			files:   map[string]string{"Tiltfile": "local('exit 3', quiet=True)\n"},
			options: execOn,
			message: "command \"exit 3\" failed.\nerror: exit status 3\nstdout:\n\nstderr:\n\n",
		},
	})
}

func TestLocalCommandsRunWithoutTheHostsAddressSpaceLimit(t *testing.T) {
	if addressSpace.Cur != unlimited {
		t.Skip("this process already has an address-space limit")
	}
	const hostLimit = 64 << 30 // far above what a test needs, far below unlimited
	limitAddressSpace(hostLimit)
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_AS, &addressSpace) })
	own, err := os.ReadFile("/proc/self/limits")
	if err != nil {
		t.Fatal(err)
	}
	if softAddressSpace(string(own)) != fmt.Sprint(hostLimit) {
		t.Fatalf("the host's own limit was not lowered: %s", own)
	}
	r := runTiltfile(t, map[string]string{"Tiltfile": "print(str(local('cat /proc/self/limits', quiet=True)))\n"},
		runOptions{exec: true, env: map[string]string{"PATH": os.Getenv("PATH")}}, nil)
	if r.error != "" {
		t.Fatal(r.backtrace)
	}
	if soft := softAddressSpace(r.output); soft != "unlimited" {
		t.Errorf("the command's address space is limited to %s bytes", soft)
	}
}

// softAddressSpace is the soft limit of "Max address space" in a /proc/PID/limits text.
func softAddressSpace(limits string) string {
	for _, line := range strings.Split(limits, "\n") {
		if rest, ok := strings.CutPrefix(line, "Max address space"); ok {
			return strings.Fields(rest)[0]
		}
	}
	return ""
}

func TestExitEndsTheRunSuccessfullyWhateverTheCode(t *testing.T) {
	runCases(t, []tiltCase{{
		name:   "exit(1)",
		files:  map[string]string{"Tiltfile": "print('before')\nexit(1)\nprint('after')\n"},
		output: "before\n1\n",
	}})
}

func TestConfigParseHelpPrintsTheUsage(t *testing.T) {
	usage := "      --name string   who to greet\n      --verbose       \n"
	runCases(t, []tiltCase{{
		name:    "--help",
		files:   map[string]string{"Tiltfile": "config.define_string('name', usage='who to greet')\nconfig.define_bool('verbose')\nconfig.parse()\n"},
		options: runOptions{args: []string{"--help"}},
		output:  "Usage of :\n" + usage + "\n",
		message: "invalid Tiltfile config args: pflag: help requested\nUsage:\n" + usage,
	}})
}

func TestVersionSettingsChecksTheConstraintAgainstTiltsVersion(t *testing.T) {
	runCases(t, []tiltCase{
		{
			name:    "met",
			files:   map[string]string{"Tiltfile": "version_settings(constraint='>=0.30.0')\n"},
			printed: []string{`version_settings(constraint=">=0.30.0"): recorded`},
		},
		{
			name:    "not met",
			files:   map[string]string{"Tiltfile": "version_settings(constraint='>" + tiltVersion + "')\n"},
			message: "you are running Tilt version " + tiltVersion + ", which doesn't match the version constraint specified in your Tiltfile: '>" + tiltVersion + "'",
		},
		{
			name:  "not a constraint",
			files: map[string]string{"Tiltfile": "version_settings(constraint='>=0.30')\n"},
			error: "error parsing version constraint: ",
		},
	})
}

func TestSettingsAreCheckedAsTiltChecksThem(t *testing.T) {
	runCases(t, []tiltCase{
		{name: "analytics_settings needs enable", files: map[string]string{"Tiltfile": "analytics_settings()\n"}, error: "analytics_settings: missing argument for enable"},
		{name: "a bool", files: map[string]string{"Tiltfile": "secret_settings(disable_scrub='yes')\n"}, error: `secret_settings: for parameter "disable_scrub": got string, want bool`},
		{
			name:  "at least one update at a time",
			files: map[string]string{"Tiltfile": "update_settings(max_parallel_updates=0)\n"},
			error: "max number of parallel updates must be >= 1(got: 0)",
		},
		{
			name:  "server-side apply",
			files: map[string]string{"Tiltfile": "update_settings(k8s_server_side_apply='maybe')\n"},
			error: `update_settings: k8s_server_side_apply must be "true", "false", or "auto"; got "maybe"`,
		},
		{name: "a duration", files: map[string]string{"Tiltfile": "ci_settings(timeout=30)\n"}, error: `ci_settings: for parameter "timeout": Expected string. Got: int`},
		{
			name:  "ignores",
			files: map[string]string{"Tiltfile": "watch_settings(ignore=[1])\n"},
			error: `watch_settings: for parameter "ignore": list should contain only strings, but element "1" was of type int`,
		},
	})
}

func TestProbeNumbersDefaultToZeroAsInTilt(t *testing.T) {
	runCases(t, []tiltCase{
		{
			name:  "defaults",
			files: map[string]string{"Tiltfile": "print(probe(tcp_socket=tcp_socket_action(80)))\n"},
			output: "probe(exec = None, failure_threshold = 0, http_get = None, initial_delay_secs = 0, period_secs = 0, " +
				"success_threshold = 0, tcp_socket = TCPSocketAction(host = \"\", port = 80), timeout_secs = 0)\n",
		},
		{
			name:  "an action of the wrong kind",
			files: map[string]string{"Tiltfile": "probe(exec=tcp_socket_action(80))\n"},
			error: `probe: for parameter "exec": got struct, want ExecAction`,
		},
		{
			name:  "a number beyond 32 bits",
			files: map[string]string{"Tiltfile": "probe(period_secs=1 << 40, exec=exec_action(['true']))\n"},
			error: `probe: for parameter "period_secs": value out of range for int32: 1099511627776`,
		},
	})
}

// treeFiles is a small tree: a Tiltfile, files in a directory and below it, and a .git.
var treeFiles = map[string]string{
	"conf/a.yaml":     "a: 1\n",
	"conf/sub/b.yaml": "b: 2\n",
	"conf/.git/HEAD":  "ref: refs/heads/main\n",
}

func TestAWatchedDirectoryIsADependencyOnEverythingInsideIt(t *testing.T) {
	for _, source := range []string{"watch_file('conf')\n", "listdir('conf', recursive=True)\n"} {
		r := runTiltfile(t, withFiles(treeFiles, map[string]string{"Tiltfile": source}), runOptions{}, nil)
		if r.error != "" {
			t.Fatal(r.backtrace)
		}
		dependsOnly("Tiltfile", "conf")(t, r)
		dir := filepath.Join(r.root, "conf")
		seen := r.files[dir]
		if !strings.HasPrefix(seen, "tree:") || seen != fileSignature(dir) {
			t.Fatalf("%s: recorded %q, now %q", source, seen, fileSignature(dir))
		}
		for _, change := range []struct {
			what    string
			do      func()
			changes bool
		}{
			{"a file of a subdirectory is rewritten", func() { write(t, dir, "sub/b.yaml", "b: 3333\n") }, true},
			{"a file appears in a subdirectory", func() { write(t, dir, "sub/deeper/c.yaml", "") }, true},
			{"a file is removed", func() { remove(t, dir, "a.yaml") }, true},
			{"something changes in .git", func() { write(t, dir, ".git/index", "x") }, false},
		} {
			change.do()
			now := fileSignature(dir)
			if (now != seen) != change.changes {
				t.Errorf("%s: when %s, the signature changed: %v", source, change.what, now != seen)
			}
			seen = now
		}
	}
}

func TestOnlyARecursiveListingIsADependency(t *testing.T) {
	runCases(t, []tiltCase{
		{
			name:   "flat",
			files:  withFiles(treeFiles, map[string]string{"Tiltfile": "print(len(listdir('conf')))\n"}),
			output: "1\n",
			check:  dependsOnly("Tiltfile"),
		},
		{
			name:   "a directory that does not exist",
			files:  map[string]string{"Tiltfile": "print(listdir('nope'), listdir('nope', recursive=True))\n"},
			output: "[] []\n",
			check:  dependsOnly("Tiltfile", "nope"),
		},
		{
			name:  "a directory read is none",
			files: withFiles(treeFiles, map[string]string{"Tiltfile": "read_file('conf')\n"}),
			error: "read {root}/conf: is a directory",
			check: dependsOnly("Tiltfile"),
		},
	})
}

func TestATreeSignatureCoversAtMostMaxTreeEntries(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i <= maxTreeEntries; i++ { // one entry more than the cap
		write(t, dir, fmt.Sprintf("f%05d", i), "")
	}
	before := fileSignature(dir)
	write(t, dir, fmt.Sprintf("f%05d", maxTreeEntries), "beyond the cap")
	if fileSignature(dir) != before {
		t.Error("an entry beyond the cap changed the signature")
	}
	write(t, dir, fmt.Sprintf("f%05d", maxTreeEntries-1), "the last one covered")
	if fileSignature(dir) == before {
		t.Error("the last entry the cap covers did not change the signature")
	}
}

func write(t *testing.T, dir, name, text string) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}
