package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// fileOptions is Tilt's dialect: the options Tilt sets for every file it executes.
var fileOptions = &syntax.FileOptions{
	Set:             true,
	GlobalReassign:  true,
	Recursion:       true,
	TopLevelControl: true,
	While:           true,
}

// textLimit bounds what one run may print and warn, so a Tiltfile printing in a loop cannot
// flood the operator.
const textLimit = 1 << 20

const extPrefix = "ext://"
const extensionFile = "Tiltfile"

// Thread-local keys: the file executing now and the directory that confines its reads and loads.
const (
	localFile = "tilt.file"
	localRoot = "tilt.root"
)

// loadState is a file's place in the run's load cache: executing (a load of it now is a
// cycle) or done, with its frozen globals or its error, so each file runs at most once.
type loadState struct {
	// The root the file runs with: its repo's, or the Tiltfile's.
	root    string
	done    bool
	globals starlark.StringDict
	err     error
}

// run is one Tiltfile run: its builtins, its registrations, the files it read, its load cache.
type run struct {
	req         *request
	kinds       *kindSet
	emit        emitFunc
	predeclared starlark.StringDict
	registry    registry
	files       map[string]bool
	cache       map[string]*loadState
	executing   []string
	textLeft    int
	env         map[string]string
	config      configState
	// The object names of the Extensions an ext:// load named (extload.go).
	loaded map[string]bool
	// local_resource calls, made into objects when the run ends (localresource.go), and the
	// trigger mode trigger_mode() set for them.
	localResources     []*localResource
	defaultTriggerMode triggerMode
	triggerModeSet     bool
	// What k8s_yaml and k8s_resource recorded, made into resources when the run ends (k8s.go).
	k8s k8sState
}

func newRun(req *request, kinds *kindSet, emit emitFunc) *run {
	r := &run{
		req:      req,
		kinds:    kinds,
		emit:     emit,
		files:    map[string]bool{},
		cache:    map[string]*loadState{},
		textLeft: textLimit,
		env:      map[string]string{},
		loaded:   map[string]bool{},

		defaultTriggerMode: triggerModeAuto,
	}
	for key, value := range req.Env {
		r.env[key] = value
	}
	r.predeclared = r.builtins()
	return r
}

func (r *run) execute(maxSteps uint64) doneEvent {
	root := r.req.Root
	path, err := confine(r.req.Path, root, "Tiltfile")
	if err != nil {
		return doneEvent{Error: err.Error()}
	}
	thread := &starlark.Thread{Name: "Tiltfile", Load: r.load, Print: r.print}
	if maxSteps > 0 {
		thread.SetMaxExecutionSteps(maxSteps)
	}
	thread.SetLocal(localRoot, mustResolve(root))
	var waiting *waitingEvent
	if _, err := r.exec(thread, path); err != nil && !errors.Is(err, errStop) {
		var notReady *repoNotReady
		if !errors.As(err, &notReady) {
			return failure(err)
		}
		// Not a failure: the run ends at that load with what it registered before it.
		waiting = &waitingEvent{Repo: notReady.repo, Message: failure(err).Error}
	}
	if err := r.registerResources(); err != nil {
		return doneEvent{Error: err.Error()}
	}
	return doneEvent{Objects: r.markLoaded(r.registry.objects()), Waiting: waiting}
}

// exec runs one file (once per run) and returns its frozen globals.
func (r *run) exec(thread *starlark.Thread, path string) (starlark.StringDict, error) {
	if state, ok := r.cache[path]; ok {
		if !state.done {
			return nil, fmt.Errorf("cycle: %s", strings.Join(append(r.cycleFrom(path), path), " -> "))
		}
		return state.globals, state.err
	}
	state := &loadState{root: thread.Local(localRoot).(string)}
	r.cache[path] = state
	r.executing = append(r.executing, path)
	outer := thread.Local(localFile)
	thread.SetLocal(localFile, path)

	r.recordFile(path)
	source, err := os.ReadFile(path)
	if err != nil {
		err = fmt.Errorf("error reading file %s: %w", path, err) // Tilt's words: the OS error as Go gives it
	} else {
		predeclared := r.fileGlobals(path, len(r.executing) == 1)
		state.globals, err = starlark.ExecFileOptions(fileOptions, thread, path, source, predeclared)
	}

	thread.SetLocal(localFile, outer)
	r.executing = r.executing[:len(r.executing)-1]
	state.done, state.err = true, err
	return state.globals, err
}

func (r *run) cycleFrom(path string) []string {
	for i, p := range r.executing {
		if p == path {
			return r.executing[i:]
		}
	}
	return r.executing
}

// load is the thread's loader: relative paths against the loading file, confined to its root;
// ext://NAME through the Extension that names it (extload.go). The loaded file runs with the
// root of its own repo.
func (r *run) load(thread *starlark.Thread, module string) (starlark.StringDict, error) {
	path, root, err := r.resolveLoad(thread, module)
	if err != nil {
		return nil, err
	}
	outerRoot := thread.Local(localRoot)
	thread.SetLocal(localRoot, root)
	defer thread.SetLocal(localRoot, outerRoot)
	return r.exec(thread, path)
}

func (r *run) resolveLoad(thread *starlark.Thread, module string) (path string, root string, err error) {
	if strings.HasPrefix(module, extPrefix) {
		return r.resolveExtension(strings.TrimPrefix(module, extPrefix))
	}
	root = thread.Local(localRoot).(string)
	candidate := module
	if !filepath.IsAbs(module) {
		candidate = currentDir(thread) + "/" + module
	}
	path, err = confine(candidate, root, module)
	return path, root, err
}

// confineToCallers is path confined to the root of the file executing now, or to the root of a
// file whose function is on the call stack: an extension's function called later from the
// Tiltfile reads its own repo (as it did while it loaded), and what the Tiltfile gave it from the
// Tiltfile's directory. A path outside every one of those roots is refused with the current one's.
func (r *run) confineToCallers(thread *starlark.Thread, path, what string) (string, error) {
	confined, err := confine(path, thread.Local(localRoot).(string), what)
	if err == nil {
		return confined, nil
	}
	for i := 0; i < thread.CallStackDepth(); i++ {
		state, ok := r.cache[thread.CallFrame(i).Pos.Filename()]
		if !ok {
			continue
		}
		if confined, other := confine(path, state.root, what); other == nil {
			return confined, nil
		}
	}
	return "", err
}

// fileGlobals is what a file starts with: the builtins, and as in Tilt __file__ (its path) and
// __name__ ("__main__" for the Tiltfile run, the base name for a loaded file).
func (r *run) fileGlobals(path string, main bool) starlark.StringDict {
	globals := make(starlark.StringDict, len(r.predeclared)+2)
	for key, value := range r.predeclared {
		globals[key] = value
	}
	globals["__file__"] = starlark.String(path)
	globals["__name__"] = starlark.String(filepath.Base(path))
	if main {
		globals["__name__"] = starlark.String("__main__")
	}
	return globals
}

// currentFile is the file executing now: a loaded file while it loads, the caller's otherwise.
func currentFile(thread *starlark.Thread) string {
	return thread.Local(localFile).(string)
}

// currentDir is what Tilt's os.getcwd() returns: the directory of the file executing now.
func currentDir(thread *starlark.Thread) string {
	return filepath.Dir(currentFile(thread))
}

func (r *run) recordFile(path string) {
	if !r.files[path] {
		r.files[path] = true
		r.emit("file", []string{path, fileSignature(path)})
	}
}

func (r *run) print(_ *starlark.Thread, msg string) {
	if r.spend(msg) {
		r.emit("print", msg+"\n")
	}
}

func (r *run) warn(message string) {
	if r.spend(message) {
		r.emit("warning", message)
	}
}

// spend says whether text still fits in the run's budget, and once that it no longer does.
func (r *run) spend(text string) bool {
	before := r.textLeft
	r.textLeft -= len(text) + 1
	if r.textLeft < 0 && before >= 0 {
		r.emit("print", fmt.Sprintf("[output truncated after %d characters]\n", textLimit))
	}
	return r.textLeft >= 0
}

// failure is the done event of a failed run: the first line names where the error happened
// (file:line:column, the innermost Starlark frame), the backtrace shows how it got there.
func failure(err error) doneEvent {
	var eval *starlark.EvalError
	var located error = err
	for current := err; current != nil; current = errors.Unwrap(current) {
		switch e := current.(type) {
		case *starlark.EvalError:
			eval, located = e, e
		case syntax.Error, resolve.ErrorList:
			located = e
		}
	}
	first, _, _ := strings.Cut(firstLine(located), "\n") // the status says one line; the log says all
	backtrace := firstLine(located)
	if eval != nil {
		backtrace = eval.Backtrace()
		if located != error(eval) {
			backtrace += "\n" + firstLine(located)
		}
	}
	return doneEvent{Error: first, Backtrace: backtrace}
}

func firstLine(err error) string {
	switch e := err.(type) {
	case *starlark.EvalError:
		for i := len(e.CallStack) - 1; i >= 0; i-- {
			if pos := e.CallStack[i].Pos; pos.Filename() != "<builtin>" {
				return fmt.Sprintf("%s: %s", pos, e.Msg)
			}
		}
		return e.Msg
	case syntax.Error:
		return fmt.Sprintf("%s: %s", e.Pos, e.Msg)
	case resolve.ErrorList:
		return fmt.Sprintf("%s: %s", e[0].Pos, e[0].Msg)
	}
	return err.Error()
}
