package main

import (
	"strings"
	"testing"
)

// Tilt's print tests: warn, fail, exit.
func TestTiltPrint(t *testing.T) {
	cases := []tiltCase{
		{name: "TestWarn", files: map[string]string{"Tiltfile": "warn('problem 1')"}, check: warned("problem 1")},
		{name: "TestFail", files: map[string]string{"Tiltfile": "fail('problem 1')"}, message: "problem 1"},
	}
	for _, c := range []struct{ name, argument, logged string }{
		{"Omitted", ``, ""},
		{"String", `"goodbye"`, "goodbye"},
		{"StringNamed", `code='ciao'`, "ciao"},
		{"Int", `123`, "123"},
		{"Dict", `dict(foo='bar', baz=123)`, `{"foo": "bar", "baz": 123}`},
		{"None", `None`, ""},
	} {
		exit := tiltCase{
			name:   "TestExitArgTypes/" + c.name,
			files:  map[string]string{"Tiltfile": "exit(" + c.argument + ")\nfail(\"this can't happen!\")\n"},
			absent: []string{"this can't happen!"},
		}
		if c.logged == "" {
			exit.check = func(t *testing.T, r *tiltfileRun) {
				if r.output != "" {
					t.Errorf("output %q, want none", r.output)
				}
			}
		} else {
			exit.printed = []string{c.logged}
		}
		cases = append(cases, exit)
	}
	cases = append(cases, tiltCase{
		name: "TestExitLoadedTiltfile",
		files: map[string]string{
			"exit.tiltfile": `exit("later alligator")`,
			"Tiltfile":      "load(\"./exit.tiltfile\", \"this_symbol_does_not_exist\")\nfail(\"this can't happen!\")\n",
		},
		printed: []string{"later alligator"},
		absent:  []string{"this can't happen!"},
	})
	runCases(t, cases)
}

// Tilt's sys tests.
func TestTiltSys(t *testing.T) {
	why := "differs on purpose: Tilt says its own process's command line and executable; the host " +
		"says `tilt up` as the operator runs Tiltfiles as tilt up does (sys.argv [\"tilt\", \"up\"], sys.executable tilt)"
	runCases(t, []tiltCase{{name: "TestArgv", skip: why}, {name: "TestExecutable", skip: why}})
}

// Tilt's shlex test.
func TestTiltShlex(t *testing.T) {
	runCases(t, []tiltCase{{
		name:   "TestQuote",
		files:  map[string]string{"Tiltfile": "s = shlex.quote(\"foo '$FOO'\")\nprint(shlex.quote(\"foo '$FOO'\"))\n"},
		output: `'foo '"'"'$FOO'"'"''` + "\n",
	}})
}

// Tilt's probe tests.
func TestTiltProbe(t *testing.T) {
	lines := func(text ...string) []string { return []string{strings.Join(text, "\n")} }
	runCases(t, []tiltCase{
		{
			name: "TestProbeMetaOptions",
			files: map[string]string{"Tiltfile": `
p = probe(initial_delay_secs=123, timeout_secs=456, period_secs=789, success_threshold=987,
          failure_threshold=654, exec=exec_action([]), http_get=None)
print(p.initial_delay_secs)
print(p.timeout_secs)
print(p.period_secs)
print(p.success_threshold)
print(p.failure_threshold)
print("exec:", p.exec)
print("http_get:", p.http_get)
print("tcp_socket:", p.tcp_socket)
`},
			printed: lines("123", "456", "789", "987", "654", "exec: ExecAction(command = [])", "http_get: None", "tcp_socket: None"),
		},
		{
			name:    "TestProbeActions_None",
			files:   map[string]string{"Tiltfile": "p = probe()"},
			message: "exactly one of exec, http_get, or tcp_socket must be specified",
		},
		{
			name:    "TestProbeActions_Multiple",
			files:   map[string]string{"Tiltfile": "p = probe(exec=exec_action([]), http_get=http_get_action(8000), tcp_socket=None)\n"},
			message: "exactly one of exec, http_get, or tcp_socket must be specified",
		},
		{
			name:    "TestProbeActions_Exec",
			files:   map[string]string{"Tiltfile": "p = probe(exec=exec_action(command=['sleep', '60']))\nprint(p.exec.command)\n"},
			printed: []string{`["sleep", "60"]`},
		},
		{
			name: "TestProbeActions_HTTPGet",
			files: map[string]string{"Tiltfile": "p = probe(http_get=http_get_action(host='example.com', port=8888, scheme='https', path='/status'))\n" +
				"print(p.http_get.host)\nprint(p.http_get.port)\nprint(p.http_get.scheme)\nprint(p.http_get.path)\n"},
			printed: lines("example.com", "8888", "https", "/status"),
		},
		{
			name: "TestProbeActions_HTTPGet_NoHost",
			files: map[string]string{"Tiltfile": "p = probe(http_get=http_get_action(8888, scheme='https', path='/status'))\n" +
				"print(p.http_get.host)\nprint(p.http_get.port)\nprint(p.http_get.scheme)\nprint(p.http_get.path)\n"},
			printed: lines("8888", "https", "/status"),
		},
		{
			name: "TestProbeActions_TCPSocket",
			files: map[string]string{"Tiltfile": "p = probe(tcp_socket=tcp_socket_action(1234, 'localhost'))\n" +
				"print(p.tcp_socket.host)\nprint(p.tcp_socket.port)\n"},
			printed: lines("localhost", "1234"),
		},
	})
}

// testingVersion is the Tilt version Tilt's version tests check constraints against.
const testingVersion = "0.5.3"

// Tilt's version_settings tests. The host keeps no settings (it says each call in the run's log);
// the constraints are checked against Tilt's test version by the check version_settings uses.
func TestTiltVersion(t *testing.T) {
	cases := []tiltCase{
		{name: "TestEmpty", skip: "Tilt's engine: Tilt's update check is its engine's state; the host keeps no settings"},
		{
			name:    "TestCheckUpdatesFalse",
			files:   map[string]string{"Tiltfile": "version_settings(check_updates=False)\n"},
			printed: []string{"version_settings(check_updates=False): recorded"},
		},
		{
			name:    "TestCheckUpdatesTrue",
			files:   map[string]string{"Tiltfile": "version_settings(check_updates=True)\n"},
			printed: []string{"version_settings(check_updates=True): recorded"},
		},
	}
	runCases(t, cases)
	for _, c := range []struct {
		constraint string
		meets      bool
	}{
		{">=0.5.4", false},
		{"<=0.5.2", false},
		{"<=0.3.0", false},
		{">=0.5.0 <0.5.3", false},
		{"=0.5.3", true},
		{">0.4.1", true},
		{"0.5.x", true},
	} {
		verb := "doesn't meet"
		if c.meets {
			verb = "meets"
		}
		t.Run("TestVersionConstraints/version_"+strings.ReplaceAll(verb, " ", "_")+"_constraint_"+c.constraint, func(t *testing.T) {
			err := checkVersionConstraint(testingVersion, c.constraint)
			switch {
			case c.meets && err != nil:
				t.Fatal(err)
			case !c.meets && err == nil:
				t.Fatalf("%s met %s", testingVersion, c.constraint)
			case !c.meets && (!strings.Contains(err.Error(), testingVersion) || !strings.Contains(err.Error(), "'"+c.constraint+"'")):
				t.Fatalf("error %q does not name the version and the constraint", err)
			}
		})
	}
	runCases(t, []tiltCase{{
		name:    "TestVersionConstraintsDontClearCheckUpdates",
		files:   map[string]string{"Tiltfile": "version_settings(check_updates=False)\nversion_settings(constraint='0.x')\n"},
		printed: []string{"version_settings(check_updates=False): recorded", `version_settings(constraint="0.x"): recorded`},
	}})
}
