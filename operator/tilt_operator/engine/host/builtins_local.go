package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"

	"go.starlark.net/starlark"
)

// Tilt's local(command, quiet=False, command_bat="", echo_off=False, env={}, dir="", stdin=None):
// runs a command while the Tiltfile runs and returns its stdout as a blob. Only where Cmds may
// run (the operator's process execution is on); inside the run's time limit (the process dies
// with the host, which is killed at the limit); its output goes to the Tiltfile's log, and a
// non-zero exit fails the run, as in Tilt. The command runs without the host's memory limits
// (command.go).

// localLogPrefix starts every line a local() command prints in the log, as Tilt's does.
const localLogPrefix = " → "

// execDisabled is what a builtin that runs a program (local, helm) says where process execution is off.
func execDisabled(builtin string) error {
	return fmt.Errorf("%s: running commands is off in this operator (start it with TILT_OPERATOR_EXEC=1, "+
		"or `tilt-operator dev`, where it is on)", builtin)
}

// hostCommand is a command as Tilt's model.Cmd holds it.
type hostCommand struct {
	argv []string
	dir  string
	env  []string
}

func (r *run) builtinLocal(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var command, commandBat, dir starlark.Value // command_bat is what Tilt runs on Windows only
	var env envArgument
	var stdin stringable
	quiet, echoOff := false, false
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs,
		"command", &command, "quiet?", &quiet, "command_bat", &commandBat, "echo_off", &echoOff,
		"env", &env, "dir?", &dir, "stdin?", &stdin); err != nil {
		return nil, err
	}
	if !r.req.ExecEnabled {
		return nil, execDisabled(fn.Name())
	}
	cmd, err := toHostCommand(thread, command, dir, env)
	if err != nil {
		return nil, err
	}
	if !echoOff {
		r.print(thread, "local: "+cmd.String())
	}
	var stdout, stderr bytes.Buffer
	var log *lineLogger
	if !quiet {
		log = &lineLogger{run: r, thread: thread}
	}
	err = r.execLocal(cmd, stdin, &stdout, &stderr, log)
	if err != nil {
		message := fmt.Sprintf("command %q failed.\nerror: %v", cmd.String(), err)
		if quiet { // else the output is in the log already
			message += fmt.Sprintf("\nstdout:\n%s\nstderr:\n%s\n", stdout.String(), stderr.String())
		}
		return nil, errors.New(message)
	}
	if !echoOff && !quiet && stdout.Len() == 0 && stderr.Len() == 0 {
		r.print(thread, localLogPrefix+"[no output]")
	}
	return blob{stdout.String(), "local: " + cmd.String()}, nil
}

// envArgument is a dict of strings (or None), as Tilt's value.StringStringMap takes env.
type envArgument map[string]string

func (m *envArgument) Unpack(value starlark.Value) error {
	*m = envArgument{}
	if value == starlark.None {
		return nil
	}
	dict, ok := value.(*starlark.Dict)
	if !ok {
		return fmt.Errorf("expected dict, got %s", tiltTypeName(value))
	}
	for _, item := range dict.Items() {
		key, ok := textOf(item[0])
		if !ok {
			return fmt.Errorf("key is not a string: %s (%v)", tiltTypeName(item[0]), item[0])
		}
		text, ok := textOf(item[1])
		if !ok {
			return fmt.Errorf("value is not a string: %s (%v)", tiltTypeName(item[1]), item[1])
		}
		(*m)[key] = text
	}
	return nil
}

// toHostCommand reads local()'s command as Tilt does, relative to the file executing now.
func toHostCommand(thread *starlark.Thread, command, dir starlark.Value, env envArgument) (hostCommand, error) {
	return readCommand(command, dir, env, currentDir(thread))
}

// readCommand reads a command as Tilt does for local() and local_resource() alike: a string runs
// through `sh -c` (an empty one is no command), any sequence of strings as it is; dir is relative
// to base (the declaring file's directory), which it is when not given; env becomes sorted
// KEY=VALUE.
func readCommand(command, dir starlark.Value, env map[string]string, base string) (hostCommand, error) {
	cmd := hostCommand{dir: base}
	if dir != nil && dir != starlark.None {
		text, ok := starlark.AsString(dir)
		if !ok {
			return cmd, fmt.Errorf("a command directory must be empty or a string: expected path | string. Actual type: %s",
				tiltTypeName(dir))
		}
		cmd.dir = text
		if !filepath.IsAbs(text) {
			cmd.dir = filepath.Join(base, text)
		}
	}
	for key, value := range env {
		if key == "" {
			return cmd, fmt.Errorf("environment has empty key for value %q", value)
		}
		cmd.env = append(cmd.env, key+"="+value)
	}
	sort.Strings(cmd.env)
	switch v := command.(type) {
	case starlark.String:
		if script := strings.TrimSpace(string(v)); v != "" {
			cmd.argv = []string{"sh", "-c", script}
		}
	case starlark.Sequence:
		iter := v.Iterate()
		defer iter.Done()
		var word starlark.Value
		for iter.Next(&word) {
			text, ok := word.(starlark.String)
			if !ok {
				return cmd, fmt.Errorf("a command must be a string or a list of strings: '%v' is a %T, not a string", word, word)
			}
			cmd.argv = append(cmd.argv, string(text))
		}
	default:
		return cmd, fmt.Errorf("a command must be a string or list of strings. found %s", tiltTypeName(command))
	}
	return cmd, nil
}

// String is how Tilt shows a command: a shell script as written, else its words, those with a
// space quoted.
func (c hostCommand) String() string {
	if len(c.argv) == 3 && c.argv[0] == "sh" && c.argv[1] == "-c" && !strings.Contains(c.argv[2], "\n") {
		return c.argv[2]
	}
	words := make([]string, len(c.argv))
	for i, word := range c.argv {
		words[i] = word
		if strings.Contains(word, " ") {
			words[i] = fmt.Sprintf("%q", word)
		}
	}
	return strings.Join(words, " ")
}

// execLocal runs cmd in the run's environment (cmd's env on top), its output into stdout and
// stderr and, a line at a time, into log when there is one. The program is found on the run's
// PATH, as Tilt finds it on its own.
func (r *run) execLocal(cmd hostCommand, stdin stringable, stdout, stderr io.Writer, log *lineLogger) error {
	if len(cmd.argv) == 0 {
		return errors.New("empty cmd")
	}
	path, err := lookPath(cmd.argv[0], r.env["PATH"])
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	process := exec.Command(self, execCommandArgs(path, cmd.argv)...)
	process.Dir = cmd.dir
	for _, key := range sortedKeys(r.env) {
		process.Env = append(process.Env, key+"="+r.env[key])
	}
	process.Env = append(process.Env, cmd.env...)
	if stdin.set {
		process.Stdin = strings.NewReader(stdin.text)
	}
	// The command stays in the host's process group, which the operator kills whole at the time
	// limit or a stop, its own children included; and it dies with the host if that dies alone.
	process.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	process.Stdout, process.Stderr = stdout, stderr
	if log != nil {
		process.Stdout, process.Stderr = io.MultiWriter(stdout, log), io.MultiWriter(stderr, log)
		defer log.flush()
	}
	err = process.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return fmt.Errorf("exit status %d", exit.ExitCode())
	}
	return err
}

// lookPath finds a program as exec.LookPath does, on the given PATH rather than the host's.
func lookPath(name, path string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		candidate := filepath.Join(dir, name)
		if info, err := os.Stat(candidate); err == nil && !info.IsDir() && info.Mode()&0o111 != 0 {
			if !filepath.IsAbs(candidate) {
				return "", &exec.Error{Name: name, Err: exec.ErrDot}
			}
			return candidate, nil
		}
	}
	return "", &exec.Error{Name: name, Err: exec.ErrNotFound}
}

// lineLogger prints a command's output into the run's output a line at a time, prefixed.
type lineLogger struct {
	run     *run
	thread  *starlark.Thread
	mu      sync.Mutex
	pending []byte
}

func (l *lineLogger) Write(data []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending = append(l.pending, data...)
	for {
		end := bytes.IndexByte(l.pending, '\n')
		if end < 0 {
			return len(data), nil
		}
		l.run.print(l.thread, localLogPrefix+string(l.pending[:end]))
		l.pending = l.pending[end+1:]
	}
}

func (l *lineLogger) flush() {
	if len(l.pending) > 0 {
		l.run.print(l.thread, localLogPrefix+string(l.pending))
		l.pending = nil
	}
}
