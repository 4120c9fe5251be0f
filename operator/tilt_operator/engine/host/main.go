// Command tiltfile-host runs Tiltfiles for the operator: Tilt's dialect of Starlark on
// go.starlark.net, the version Tilt itself pins (docs/design.md, "The Tiltfile language").
//
// The operator's engine (tilt_operator.engine.pool) starts it as
//
//	tiltfile-host --memory-mb N --max-steps N
//
// and talks JSON lines over its stdin and stdout (tilt_operator.engine.protocol): once warm the
// host says {"ready": pid}; each request line is one run (or one builtin call for the command
// line), answered by events, one per line and flushed as they happen ({"print": …},
// {"warning": …}, {"file": [path, signature]}), ending with {"done": …}. So a host killed for
// time, memory or a stop button still leaves behind what it printed and which files it read.
// For a local() command, the host starts itself again as `tiltfile-host --exec-command ...`
// (command.go).
//
// Nothing of one run reaches the next: every run gets a new thread, new globals and a new load
// cache; no builtin changes the process's environment, directory or files. The CRDs' builtins
// are kept between runs (they are immutable). A host that hit a limit is killed or exits and is
// never given another run; one that ends a run large, or has served MaxRuns runs, retires.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
)

// maxRuns is how many runs a host serves before it retires and a fresh one takes its place.
const maxRuns = 500

// retireShare: a host whose resident size after a run exceeds this share of its limit retires.
const retireShare = 0.25

func main() {
	if len(os.Args) > 1 && os.Args[1] == commandMode {
		execCommand(os.Args[2:])
	}
	memoryMB := flag.Int("memory-mb", 512, "the memory limit of one run, in MiB")
	maxSteps := flag.Uint64("max-steps", 0, "the Starlark steps one run may take (0: no limit)")
	flag.Parse()
	limit := int64(*memoryMB) << 20
	watchdog := startWatchdog(limit)
	out := bufio.NewWriterSize(os.Stdout, 64<<10)
	emit := func(key string, value any) {
		line, err := json.Marshal(map[string]any{key: value})
		if err != nil {
			line, _ = json.Marshal(map[string]any{key: fmt.Sprint(value)})
		}
		out.Write(line)
		out.WriteByte('\n')
		out.Flush()
	}
	emit("ready", os.Getpid())
	serve(bufio.NewReaderSize(os.Stdin, 1<<20), emit, watchdog, limits{memory: limit, steps: *maxSteps})
}

// limits are the host's, the same for every run it serves.
type limits struct {
	memory int64
	steps  uint64
}

// serve answers requests until stdin closes or the host retires.
func serve(in *bufio.Reader, emit emitFunc, watchdog *watchdog, limits limits) {
	var kinds *kindSet
	for runs := 1; ; runs++ {
		line, err := in.ReadBytes('\n')
		if len(line) == 0 && err == io.EOF {
			return
		}
		var req request
		if err := decodeRequest(line, &req); err != nil {
			fmt.Fprintf(os.Stderr, "tiltfile-host: bad request: %v\n", err)
			os.Exit(1)
		}
		var done doneEvent
		if kinds, err = req.kinds(kinds); err != nil {
			done.Error = err.Error()
		} else {
			watchdog.arm()
			done = execute(&req, kinds, limits, emit)
			watchdog.disarm()
			watchdog.checkPeak()
		}
		done.Retire = runs >= maxRuns || float64(residentBytes()) > float64(limits.memory)*retireShare
		emit("done", done)
		if done.Retire {
			return
		}
	}
}

// execute runs one request: a Tiltfile, or one builtin call (kubectl tilt create).
func execute(req *request, kinds *kindSet, limits limits, emit emitFunc) doneEvent {
	if req.Call != nil {
		obj, err := callBuiltin(kinds, req.Call)
		if err != nil {
			return doneEvent{Error: err.Error()}
		}
		return doneEvent{Objects: []map[string]any{obj}}
	}
	return newRun(req, kinds, emit).execute(limits.steps)
}
