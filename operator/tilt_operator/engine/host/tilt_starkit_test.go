package main

import (
	"strings"
	"testing"
)

// pluginAPI is why Tilt's tests of its Go plugin API do not run here.
const pluginAPI = "Tilt's engine: tests Tilt's Go plugin API (plugins adding builtins, state or load " +
	"interceptors); the host's builtins are one fixed table"

// backtraceHas checks that the failed run's backtrace says each text ({root} standing for the root).
func backtraceHas(texts ...string) func(t *testing.T, r *tiltfileRun) {
	return func(t *testing.T, r *tiltfileRun) {
		t.Helper()
		for _, text := range texts {
			if text = strings.ReplaceAll(text, "{root}", r.root); !strings.Contains(r.backtrace, text) {
				t.Errorf("backtrace %q, want it to say %q", r.backtrace, text)
			}
		}
	}
}

// warned checks the run's warnings.
func warned(warnings ...string) func(t *testing.T, r *tiltfileRun) {
	return func(t *testing.T, r *tiltfileRun) {
		t.Helper()
		if strings.Join(r.warnings, "\n") != strings.Join(warnings, "\n") {
			t.Errorf("warnings %q, want %q", r.warnings, warnings)
		}
	}
}

// failsToLoad is a file whose execution fails on its line 3.
var failsToLoad = map[string]string{"foo/Tiltfile": "\nx = 1\ny = x // 0\n"}

// withFiles is files and more, in one new map.
func withFiles(files, more map[string]string) map[string]string {
	all := map[string]string{}
	for _, m := range []map[string]string{files, more} {
		for name, text := range m {
			all[name] = text
		}
	}
	return all
}

// Tilt's starkit tests: how files execute, load each other and reach builtins. Tilt's tests add a
// builtin of their own (hi, pwd); these call one of the host's that shows the same thing.
func TestTiltStarkit(t *testing.T) {
	runCases(t, []tiltCase{
		{
			name: "TestLoadError",
			skip: "differs on purpose: a failed load is reported at the failure inside the loaded file, with " +
				"the loading line in the backtrace (docs/design.md, Errors), not as 'cannot load ./foo/Tiltfile'",
		},
		{name: "TestLoadInterceptor", skip: pluginAPI},
		{name: "TestLoadInterceptorThatFails", skip: pluginAPI},
		{name: "TestTopLevelBuiltin", files: map[string]string{"Tiltfile": "warn('hi')\n"}, check: warned("hi")},
		{name: "TestWhile", files: map[string]string{"Tiltfile": "while True:\n  warn('hi')\n  break\n"}, check: warned("hi")},
		{
			name:  "TestModuleBuiltin",
			files: map[string]string{"Tiltfile": "os.putenv('HAI', 'oh')\n"},
			check: func(t *testing.T, r *tiltfileRun) {
				if r.env["HAI"] != "oh" {
					t.Errorf("os.putenv did not run: %v", r.env)
				}
			},
		},
		{name: "TestNestedModuleBuiltin", files: map[string]string{"Tiltfile": "print(os.path.basename('/oh/hai'))\n"}, output: "hai\n"},
		{name: "TestDuplicateGlobalName", skip: pluginAPI},
		{name: "TestDuplicateNameWithinModule", skip: pluginAPI},
		{
			name: "TestUsePwdOfCallSiteLoadingTiltfile",
			files: map[string]string{
				"bar/Tiltfile": "def hello():\n\tprint(os.getcwd())\n",
				"foo/Tiltfile": "load('../bar/Tiltfile', 'hello')\nhello()\n",
			},
			options: runOptions{main: "foo/Tiltfile"},
			output:  "{root}/foo\n",
		},
		{
			name: "TestUsePwdOfCallSiteLoadedTiltfile",
			files: map[string]string{
				"bar/Tiltfile": "def unused():\n  pass\nprint(os.getcwd())\n",
				"foo/Tiltfile": "load('../bar/Tiltfile', 'unused')\n",
			},
			options: runOptions{main: "foo/Tiltfile"},
			output:  "{root}/bar\n",
		},
		{
			name: "TestUseMagicFileVar",
			files: map[string]string{
				"Tiltfile2": "def print_mypath():\n  print(__file__)\n",
				"Tiltfile":  "load('Tiltfile2', 'print_mypath')\nprint(__file__)\nprint_mypath()\n",
			},
			output: "{root}/Tiltfile\n{root}/Tiltfile2\n",
		},
		{
			name: "TestUseMagicNameVar",
			files: map[string]string{
				"Tiltfile2": "def print_mypath():\n  print(__name__)\n",
				"Tiltfile":  "load('Tiltfile2', 'print_mypath')\nprint(__name__)\nprint_mypath()\n",
			},
			output: "__main__\nTiltfile2\n",
		},
		{name: "TestSupportsSet", files: map[string]string{"Tiltfile": "x = set([1, 2, 1])\nprint(x)\n"}, output: "set([1, 2])\n"},
		{
			name:   "TestSupportDictUnion",
			files:  map[string]string{"Tiltfile": "x = {'a': 1} | {'b': 2}\nprint(x)\n"},
			output: "{\"a\": 1, \"b\": 2}\n",
		},
		{name: "TestNormal", skip: pluginAPI},
		{name: "TestError", skip: pluginAPI},
	})
}

// Tilt's include() test.
func TestTiltInclude(t *testing.T) {
	runCases(t, []tiltCase{{
		name:  "TestLoadError",
		files: withFiles(failsToLoad, map[string]string{"Tiltfile": "\ninclude('./foo/Tiltfile')\n"}),
		error: "floored division by zero",
		check: backtraceHas("{root}/Tiltfile:2:8: in <toplevel>", "{root}/foo/Tiltfile:3:7: in <toplevel>"),
	}})
}

// Tilt's load_dynamic() tests.
func TestTiltLoadDynamic(t *testing.T) {
	prints := map[string]string{"foo/Tiltfile": "\nx = 1\nprint('x=' + str(x))\n"}
	runCases(t, []tiltCase{
		{
			name: "TestLoadDynamicOK",
			files: withFiles(prints, map[string]string{
				"Tiltfile": "\nstuff = load_dynamic('./foo/Tiltfile')\nprint('stuff.x=' + str(stuff['x']))\n",
			}),
			output: "x=1\nstuff.x=1\n",
		},
		{
			name: "TestLoadDynamicCachedLoad",
			files: withFiles(prints, map[string]string{
				"Tiltfile": "\nstuff1 = load_dynamic('./foo/Tiltfile')\nprint('stuff1.x=' + str(stuff1['x']))\n" +
					"stuff2 = load_dynamic('./foo/Tiltfile')\nprint('stuff2.x=' + str(stuff2['x']))\n",
			}),
			output: "x=1\nstuff1.x=1\nstuff2.x=1\n",
		},
		{
			name:  "TestLoadDynamicFrozen",
			files: withFiles(prints, map[string]string{"Tiltfile": "\nstuff = load_dynamic('./foo/Tiltfile')\nstuff['x'] = 2\n"}),
			error: "cannot insert into frozen hash table",
			check: backtraceHas("{root}/Tiltfile:3:6: in <toplevel>"),
		},
		{
			name:  "TestLoadDynamicError",
			files: withFiles(failsToLoad, map[string]string{"Tiltfile": "\nload_dynamic('./foo/Tiltfile')\n"}),
			error: "floored division by zero",
			check: backtraceHas("{root}/Tiltfile:2:13: in <toplevel>", "{root}/foo/Tiltfile:3:7: in <toplevel>"),
		},
	})
}
