package main

import (
	"os"
	"testing"
)

// fooYAML is the start of the Deployment Tilt's tiltfile tests read as foo.yaml.
const fooYAML = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: foo\n"

// Tilt's tests of local(), blob() and the files a run reads, from its main Tiltfile tests. Those
// that also build or deploy what they read (docker_build, k8s_yaml) are ported without that part;
// TestBlob's k8s_yaml is checked as tilt_k8s_test.go checks it.
func TestTiltLocal(t *testing.T) {
	execOn := runOptions{exec: true, env: map[string]string{"PATH": os.Getenv("PATH")}}
	local := func(c tiltCase) tiltCase {
		c.options = execOn
		return c
	}
	cases := []tiltCase{
		local(tiltCase{
			name:    "TestLocal",
			files:   map[string]string{"foo.yaml": fooYAML, "Tiltfile": "cmd = 'cat foo.yaml'\nif os.name == 'nt':\n  cmd = 'type foo.yaml'\nyaml = local(cmd)\n"},
			printed: []string{"local: cat foo.yaml", " → kind: Deployment"},
		}),
		local(tiltCase{
			name:    "TestLocalBat",
			files:   map[string]string{"foo.yaml": fooYAML, "Tiltfile": "yaml = local(command='cat foo.yaml', command_bat='type foo.yaml')\n"},
			printed: []string{"local: cat foo.yaml", " → kind: Deployment"},
		}),
		local(tiltCase{
			name: "TestLocalEnv",
			files: map[string]string{"Tiltfile": "ignore = str(local('echo $FOO', command_bat='echo %FOO%', env={'FOO': 'bar'})).rstrip('\\r\\n')\n" +
				"watch_settings(ignore=ignore)\n"},
			printed: []string{`watch_settings(ignore="bar"): recorded`},
		}),
		local(tiltCase{name: "TestLocalEmptyArray", files: map[string]string{"Tiltfile": "local([])\n"}, error: "empty cmd"}),
		local(tiltCase{name: "TestLocalEmptyString", files: map[string]string{"Tiltfile": "local('')\n"}, error: "empty cmd"}),
		local(tiltCase{
			name:    "TestLocalStdin",
			files:   map[string]string{"Tiltfile": "local('head -4 | tail -2', stdin='''foo\nbar\nbaz\nquu\nqux\n''')\n"},
			printed: []string{"head -4 | tail -2\n → baz\n → quu"},
		}),
		local(tiltCase{
			name:    "TestLocalStdinChain",
			files:   map[string]string{"Tiltfile": "local('cat', stdin=local('echo hi'))\n"},
			printed: []string{"local: echo hi\n → hi\nlocal: cat\n → hi"},
		}),
		local(tiltCase{
			name:    "TestLocalQuiet",
			files:   map[string]string{"Tiltfile": "local('echo foobar', quiet=True)\n"},
			printed: []string{"local: echo foobar"},
			absent:  []string{" → foobar"},
		}),
		local(tiltCase{
			name:   "TestLocalEchoOff",
			files:  map[string]string{"Tiltfile": "local('echo foobar', echo_off=True)\n"},
			absent: []string{"local: echo foobar"},
		}),
	}
	for _, c := range []struct {
		name, echoOff, quiet string
		noOutputShown        bool
	}{
		{"EchoOffTrue_QuietTrue", "True", "True", false},
		{"EchoOffFalse_QuietTrue", "False", "True", false},
		{"EchoOffTrue_QuietTrue#01", "True", "True", false},
		{"EchoOffFalse_QuietFalse", "False", "False", true},
	} {
		noOutput := local(tiltCase{
			name:  "TestLocalNoOutput/" + c.name,
			files: map[string]string{"Tiltfile": "local('exit 0', echo_off=" + c.echoOff + ", quiet=" + c.quiet + ")\n"},
		})
		if c.echoOff == "False" {
			noOutput.printed = append(noOutput.printed, "local: exit 0")
		} else {
			noOutput.absent = append(noOutput.absent, "exit")
		}
		if c.noOutputShown {
			noOutput.printed = append(noOutput.printed, "[no output]")
		} else {
			noOutput.absent = append(noOutput.absent, "no output")
		}
		cases = append(cases, noOutput)
	}
	cases = append(cases,
		local(tiltCase{name: "TestLocalArgvCmd", files: map[string]string{"Tiltfile": `local(['echo', 'a"b'])`}, printed: []string{`a"b`}}),
		tiltCase{
			name: "TestLocalTiltEnvPropagation/Implicit",
			skip: "Tilt's engine: TILT_HOST and TILT_PORT are the address of Tilt's own API server",
		},
		tiltCase{
			name: "TestLocalTiltEnvPropagation/Explicit",
			skip: "Tilt's engine: TILT_HOST and TILT_PORT are the address of Tilt's own API server",
		},
		tiltCase{
			name:  "TestReadFile",
			files: map[string]string{"foo.yaml": fooYAML, "Tiltfile": "yaml = read_file('foo.yaml')\n"},
			check: depends("Tiltfile", "foo.yaml"),
		},
		tiltCase{
			name:   "TestDefaultReadFile",
			files:  map[string]string{"Tiltfile": "result = read_file('this_file_does_not_exist', default='foo')\nprint(str(result) + '.yaml')\n"},
			output: "foo.yaml\n",
			check:  depends("Tiltfile", "this_file_does_not_exist"),
		},
		tiltCase{
			name:  "TestWatchFile",
			files: map[string]string{"hello": "world", "Tiltfile": "watch_file('hello')\n"},
			check: depends("Tiltfile", "hello"),
		},
		tiltCase{
			name:    "TestBlob",
			files:   map[string]string{"Tiltfile": "k8s_yaml(blob('''" + k8sDeployment("snack", "", "", nil) + "'''))"},
			options: runOptions{crds: true},
			check:   k8sResources(holding("snack", "Deployment/snack")),
		},
		tiltCase{name: "TestBlobErr", files: map[string]string{"Tiltfile": "blob(42)"}, error: "for parameter input: got int, want string"},
	)
	runCases(t, cases)
}
