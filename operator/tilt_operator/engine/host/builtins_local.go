package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"

	"github.com/alessio/shellescape"
	"go.starlark.net/starlark"
)

// Tilt's local(command, quiet=False, command_bat="", echo_off=False, env={}, dir="", stdin=None):
// runs a command while the Tiltfile runs and returns its stdout as a blob. Only where Cmds may
// run (the operator's process execution is on); inside the run's time limit (the process dies
// with the host, which is killed at the limit); its output goes to the Tiltfile's log, and a
// non-zero exit fails the run, as in Tilt.

// localLogPrefix starts every line a local() command prints in the log, as Tilt's does.
const localLogPrefix = " → "

const execDisabled = "local: running commands is off in this operator (start it with TILT_OPERATOR_EXEC=1, " +
	"or `tilt-operator dev`, where it is on)"

func (r *run) builtinLocal(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var command, commandBat, dir, stdin starlark.Value = starlark.None, starlark.None, starlark.None, starlark.None
	var env *starlark.Dict
	quiet, echoOff := false, false
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs,
		"command", &command, "quiet?", &quiet, "command_bat?", &commandBat, "echo_off?", &echoOff,
		"env?", &env, "dir?", &dir, "stdin?", &stdin); err != nil {
		return nil, err
	}
	if !r.req.ExecEnabled {
		return nil, errors.New(execDisabled)
	}
	argv, shown, err := commandLine(command)
	if err != nil {
		return nil, fmt.Errorf("local: %v", err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = currentDir(thread)
	if text, ok := textOf(dir); ok && text != "" {
		cmd.Dir = absPath(thread, text)
	}
	environment := make(map[string]string, len(r.env))
	for key, value := range r.env {
		environment[key] = value
	}
	if env != nil {
		for _, item := range env.Items() {
			key, ok1 := starlark.AsString(item[0])
			value, ok2 := textOf(item[1])
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("local: env must be a dict of strings")
			}
			environment[key] = value
		}
	}
	for _, key := range sortedKeys(environment) {
		cmd.Env = append(cmd.Env, key+"="+environment[key])
	}
	if text, ok := textOf(stdin); ok {
		cmd.Stdin = strings.NewReader(text)
	}
	// The command stays in the host's process group, which the operator kills whole at the time
	// limit or a stop, its own children included; and it dies with the host if that dies alone.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if !echoOff {
		r.print(thread, "local: "+shown)
	}
	var stdout, stderr bytes.Buffer
	var log io.Writer = io.Discard
	if !quiet {
		log = &lineLogger{run: r, thread: thread}
	}
	cmd.Stdout = io.MultiWriter(&stdout, log)
	cmd.Stderr = io.MultiWriter(&stderr, log)
	err = cmd.Run()
	if flusher, ok := log.(*lineLogger); ok {
		flusher.flush()
	}
	if err != nil {
		message := fmt.Sprintf("command %q failed.\nerror: %v", shown, err)
		if quiet {
			message += fmt.Sprintf("\nstdout:\n%s\nstderr:\n%s\n", stdout.String(), stderr.String())
		}
		return nil, errors.New(message)
	}
	if !echoOff && !quiet && stdout.Len() == 0 && stderr.Len() == 0 {
		r.print(thread, localLogPrefix+"[no output]")
	}
	return blob(stdout.String()), nil
}

// commandLine is a command as Tilt takes it: a string runs through `sh -c`, a list as it is.
// shown is how the log names it.
func commandLine(command starlark.Value) (argv []string, shown string, err error) {
	if text, ok := textOf(command); ok {
		if text == "" {
			return nil, "", errors.New("command must not be empty")
		}
		return []string{"sh", "-c", text}, text, nil
	}
	if list, ok := command.(*starlark.List); ok && list.Len() > 0 {
		for i := 0; i < list.Len(); i++ {
			text, ok := textOf(list.Index(i))
			if !ok {
				return nil, "", fmt.Errorf("command list items must be strings, got %s", list.Index(i).Type())
			}
			argv = append(argv, text)
		}
		return argv, shellescape.QuoteCommand(argv), nil
	}
	return nil, "", fmt.Errorf("command must be a string or a non-empty list of strings, got %s", command.Type())
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
