package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The tests named TestTilt<Family> are Tilt's own tests of that family of builtins, case by case
// under Tilt's names, run here as Tiltfiles through the host's run code with the same inputs and
// the same expected results. A case that tests Tilt's engine (or something the host does
// differently on purpose) is kept and skipped with the reason, so that the counts in
// docs/compatibility.md ("Tilt's own tests") are honest.

// TestMain lets the test binary start local() commands as the host binary does (command.go):
// local() starts the running executable in commandMode.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == commandMode {
		execCommand(os.Args[2:])
	}
	os.Exit(m.Run())
}

// runOptions are what a request carries besides the Tiltfile.
type runOptions struct {
	main string // the Tiltfile to run, relative to the root ("Tiltfile")
	args []string
	env  map[string]string
	exec bool // process execution on: local() runs
	crds bool // the project's CRDs are installed (crds/*.yaml): local_resource and k8s_yaml register objects
}

// tiltfileRun is what a Tiltfile's author sees of one run.
type tiltfileRun struct {
	root      string
	output    string // what print, local() and exit() wrote to the log
	warnings  []string
	error     string // the first line of the error, "" when the run succeeded
	backtrace string
	objects   []map[string]any
	files     map[string]string // what the run depends on: path -> signature, as recorded
	env       map[string]string // the run's environment when it ended
}

// runTiltfile writes files under a new root ({root} in a file standing for it; setup may add more)
// and runs the main Tiltfile there.
func runTiltfile(t *testing.T, files map[string]string, options runOptions, setup func(root string)) *tiltfileRun {
	t.Helper()
	root := t.TempDir()
	for name, text := range files {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(strings.ReplaceAll(text, "{root}", root)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if setup != nil {
		setup(root)
	}
	if options.main == "" {
		options.main = "Tiltfile"
	}
	kinds, err := newKindSet("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if options.crds {
		kinds = extLoadKinds(t)
	}
	result := &tiltfileRun{root: root, files: map[string]string{}}
	var output strings.Builder
	emit := func(key string, value any) {
		switch key {
		case "print":
			output.WriteString(value.(string))
		case "warning":
			result.warnings = append(result.warnings, value.(string))
		case "file":
			record := value.([]string)
			result.files[record[0]] = record[1]
		}
	}
	req := &request{
		Path:        filepath.Join(root, options.main),
		Root:        root,
		Args:        options.args,
		Env:         options.env,
		ExecEnabled: options.exec,
	}
	r := newRun(req, kinds, emit)
	done := r.execute(0)
	result.output, result.error, result.backtrace = output.String(), done.Error, done.Backtrace
	result.objects, result.env = done.Objects, r.env
	return result
}

// message is the error as Tilt's err.Error() says it: all of it, without the place.
func (r *tiltfileRun) message() string {
	if r.error == "" {
		return ""
	}
	at := strings.LastIndex(r.backtrace, "\nError")
	if at < 0 {
		return r.error
	}
	_, message, _ := strings.Cut(r.backtrace[at+1:], ": ")
	return message
}

// tiltCase is one of Tilt's test cases.
type tiltCase struct {
	name    string // Tilt's test, and its sub-case
	skip    string // why the case does not run here
	files   map[string]string
	options runOptions
	setup   func(root string)
	output  string   // the whole output, {root} standing for the run's root
	printed []string // texts the output contains
	absent  []string // texts the output does not contain
	error   string   // what the error says (a part of it)
	message string   // what the error says, all of it; with neither, the run succeeds
	check   func(t *testing.T, r *tiltfileRun)
}

func runCases(t *testing.T, cases []tiltCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.skip != "" {
				t.Skip(c.skip)
			}
			r := runTiltfile(t, c.files, c.options, c.setup)
			expand := strings.NewReplacer("{root}", r.root).Replace
			switch {
			case c.error == "" && c.message == "" && r.error != "":
				t.Fatalf("the run failed: %s\n%s\noutput:\n%s", r.error, r.backtrace, r.output)
			case c.error != "" && !strings.Contains(r.message(), expand(c.error)):
				t.Fatalf("error %q, want it to say %q (output:\n%s)", r.message(), expand(c.error), r.output)
			case c.message != "" && r.message() != expand(c.message):
				t.Fatalf("error %q, want %q (output:\n%s)", r.message(), expand(c.message), r.output)
			}
			if c.output != "" && r.output != expand(c.output) {
				t.Errorf("output %q, want %q", r.output, expand(c.output))
			}
			for _, text := range c.printed {
				if !strings.Contains(r.output, expand(text)) {
					t.Errorf("output %q, want it to contain %q", r.output, expand(text))
				}
			}
			for _, text := range c.absent {
				if strings.Contains(r.output, expand(text)) {
					t.Errorf("output %q, want it without %q", r.output, expand(text))
				}
			}
			if c.check != nil {
				c.check(t, r)
			}
		})
	}
}

// assertTilt is the helper file Tilt's fixtures load: assert.equals(expected, observed).
const assertTilt = `
def equals(expected, observed):
    if expected != observed:
        fail("expected: '%s'. observed: '%s'" % (expected, observed))

assert = struct(equals=equals)
`

// depends checks that the run depends on each file (paths relative to the root).
func depends(files ...string) func(t *testing.T, r *tiltfileRun) {
	return func(t *testing.T, r *tiltfileRun) {
		t.Helper()
		for _, file := range files {
			if _, ok := r.files[filepath.Join(r.root, file)]; !ok {
				t.Errorf("the run does not depend on %s: %v", file, r.files)
			}
		}
	}
}

// dependsOnly checks that the run depends on exactly these files (paths relative to the root).
func dependsOnly(files ...string) func(t *testing.T, r *tiltfileRun) {
	return func(t *testing.T, r *tiltfileRun) {
		t.Helper()
		want := map[string]bool{}
		for _, file := range files {
			want[filepath.Join(r.root, file)] = true
		}
		for file := range r.files {
			if !want[file] {
				t.Errorf("the run depends on %s too (want only %v)", file, files)
			}
		}
		depends(files...)(t, r)
	}
}
