package main

import (
	"os"
	"path/filepath"
	"testing"
)

// Tilt's os module tests. Tilt's environment is its process's; the host's is the run's (the
// request's env), which is where these cases put and look for their variables.
func TestTiltOS(t *testing.T) {
	fake := map[string]string{"FAKE_ENV_VARIABLE": "fakeValue"}
	envIs := func(want string, present bool) func(t *testing.T, r *tiltfileRun) {
		return func(t *testing.T, r *tiltfileRun) {
			if got, ok := r.env["FAKE_ENV_VARIABLE"]; ok != present || got != want {
				t.Errorf("the run's FAKE_ENV_VARIABLE is %q (set: %v), want %q (set: %v)", got, ok, want, present)
			}
		}
	}
	linkBarToFoo := func(root string) {
		if err := os.Symlink(filepath.Join(root, "foo"), filepath.Join(root, "bar")); err != nil {
			panic(err)
		}
	}
	runCases(t, []tiltCase{
		{
			name:    "TestEnviron",
			files:   map[string]string{"Tiltfile": "print(os.environ['FAKE_ENV_VARIABLE'])\nprint(os.environ.get('FAKE_ENV_VARIABLE'))\n"},
			options: runOptions{env: fake},
			output:  "fakeValue\nfakeValue\n",
		},
		{
			name: "TestGetenv",
			files: map[string]string{"Tiltfile": "print(os.getenv('FAKE_ENV_VARIABLE'))\n" +
				"print(os.getenv('FAKE_ENV_VARIABLE', 'foo'))\nprint(os.getenv('FAKE_ENV_VARIABLE_UNSET', 'bar'))\n"},
			options: runOptions{env: fake},
			output:  "fakeValue\nfakeValue\nbar\n",
		},
		{
			name:    "TestPutenv",
			files:   map[string]string{"Tiltfile": "os.putenv('FAKE_ENV_VARIABLE', 'fakeValue2')\nprint(os.getenv('FAKE_ENV_VARIABLE'))\n"},
			options: runOptions{env: fake},
			output:  "fakeValue2\n",
			check:   envIs("fakeValue2", true),
		},
		{
			name:    "TestPutenvByDict",
			files:   map[string]string{"Tiltfile": "os.environ['FAKE_ENV_VARIABLE'] = 'fakeValueByDict'\nprint(os.getenv('FAKE_ENV_VARIABLE'))\n"},
			options: runOptions{env: fake},
			output:  "fakeValueByDict\n",
			check:   envIs("fakeValueByDict", true),
		},
		{
			name:    "TestUnsetenv",
			files:   map[string]string{"Tiltfile": "os.unsetenv('FAKE_ENV_VARIABLE')\nprint(os.getenv('FAKE_ENV_VARIABLE', 'unused'))\n"},
			options: runOptions{env: fake},
			output:  "unused\n",
			check:   envIs("", false),
		},
		{
			name:    "TestUnsetenvAsDict",
			files:   map[string]string{"Tiltfile": "os.environ.pop('FAKE_ENV_VARIABLE')\nprint(os.getenv('FAKE_ENV_VARIABLE', 'unused'))\n"},
			options: runOptions{env: fake},
			output:  "unused\n",
			check:   envIs("", false),
		},
		{
			name:   "TestGetCwd",
			files:  map[string]string{"Tiltfile": "print(os.getcwd())\n"},
			output: "{root}\n",
		},
		{
			name: "TestGetCwdLoad",
			files: map[string]string{
				"foo/Tiltfile": "cwd = os.getcwd()\n",
				"Tiltfile":     "load('./foo/Tiltfile', 'cwd')\nprint(cwd)\n",
			},
			output: "{root}/foo\n",
		},
		{
			name: "TestGetCwdLoadFunction",
			files: map[string]string{
				"foo/Tiltfile": "def get_cwd_wrapper():\n  return os.getcwd()\n",
				"Tiltfile":     "load('./foo/Tiltfile', 'get_cwd_wrapper')\nprint(get_cwd_wrapper())\n",
			},
			output: "{root}\n",
		},
		{
			name: "TestAbspath",
			files: map[string]string{
				"foo/Tiltfile": "path = os.path.abspath('.')\n",
				"Tiltfile":     "load('./foo/Tiltfile', 'path')\nprint(path)\n",
			},
			output: "{root}/foo\n",
		},
		{
			name: "TestAbspathSymlinks",
			skip: "differs on purpose: a load resolves symlinks to confine the run to its root, so a file " +
				"loaded through bar -> foo runs as foo/Tiltfile and its directory is foo, not bar",
		},
		{
			name:   "TestRelpathDefaultCWD",
			files:  map[string]string{"Tiltfile": "print(os.path.relpath(r'{root}/beep/boop'))\n"},
			output: "beep/boop\n",
		},
		{
			name:   "TestRelpathToDifferentDir",
			files:  map[string]string{"Tiltfile": "print(os.path.relpath(r'{root}/beep/boop', r'{root}/beep/'))\n"},
			output: "boop\n",
		},
		{
			name:  "TestRelpathImpossible",
			files: map[string]string{"Tiltfile": "print(os.path.relpath('some/nonsense/path'))\n"},
			error: "can't make some/nonsense/path relative to",
		},
		{
			name:    "TestRelpathUpADir",
			files:   map[string]string{"foo/Tiltfile": "print(os.path.relpath(r'{root}/beep/boop'))\n"},
			options: runOptions{main: "foo/Tiltfile"},
			output:  "../beep/boop\n",
		},
		{
			name: "TestRelpathLoad",
			files: map[string]string{
				"foo/Tiltfile": "path = os.path.relpath(r'{root}/foo/beep/boop')\n",
				"Tiltfile":     "load('./foo/Tiltfile', 'path')\nprint(path)\n",
			},
			output: "beep/boop\n",
		},
		{
			name: "TestBasename",
			files: map[string]string{
				"foo/Tiltfile": "path = os.path.basename(os.path.abspath('.'))\n",
				"Tiltfile":     "load('./foo/Tiltfile', 'path')\nprint(path)\n",
			},
			output: "foo\n",
		},
		{
			name: "TestDirname",
			files: map[string]string{
				"foo/Tiltfile": "path = os.path.dirname(os.path.abspath('.'))\n",
				"Tiltfile":     "load('./foo/Tiltfile', 'path')\nprint(path)\n",
			},
			output: "{root}\n",
		},
		{
			name: "TestExists",
			files: map[string]string{
				"foo/Tiltfile": "result1 = os.path.exists('foo/Tiltfile')\nresult2 = os.path.exists('./Tiltfile')\n" +
					"result3 = os.path.exists('../Tiltfile')\nresult4 = os.path.exists('../foo')\nresult5 = os.path.exists('../bar')\n",
				"Tiltfile": "load('./foo/Tiltfile', 'result1', 'result2', 'result3', 'result4', 'result5')\n" +
					"print(result1)\nprint(result2)\nprint(result3)\nprint(result4)\nprint(result5)\n",
			},
			output: "False\nTrue\nTrue\nTrue\nFalse\n",
		},
		{
			name:   "TestPermissionDenied",
			files:  map[string]string{"Tiltfile": "print(os.path.exists('/root/x'))\n"},
			output: "False\n",
			check:  dependsOnly("Tiltfile"),
		},
		{
			name:   "TestPathExistsDir",
			files:  map[string]string{"subdir/inner/a.txt": "hello", "Tiltfile": "print(os.path.exists('subdir'))\n"},
			output: "True\n",
			check:  dependsOnly("Tiltfile"),
		},
		{
			name:   "TestRealpath",
			files:  map[string]string{"Tiltfile": "print(os.path.realpath('.'))\n"},
			output: "{root}\n",
		},
		{
			name: "TestRealpathSymlink",
			files: map[string]string{
				"foo/Tiltfile": "path = os.path.realpath('.')\n",
				"Tiltfile":     "load('./bar/Tiltfile', 'path')\nprint(path)\n",
			},
			setup:  linkBarToFoo,
			output: "{root}/foo\n",
		},
		{
			name:   "TestName",
			files:  map[string]string{"Tiltfile": "print(os.name)\n"},
			output: "posix\n",
		},
		{
			name:   "TestJoin",
			files:  map[string]string{"Tiltfile": "print(os.path.join(\"foo\", \"bar\", \"baz\"))\n"},
			output: "foo/bar/baz\n",
		},
	})
}
