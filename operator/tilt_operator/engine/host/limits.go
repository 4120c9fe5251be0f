package main

import (
	"bytes"
	"os"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// exitMemory is the host's exit code when it stops itself for using more memory than allowed.
const exitMemory = 3

// How often the watchdog reads the resident size while a run is in progress.
const watchInterval = 5 * time.Millisecond

// Address space allowed beyond what the started host maps: room for Go's heap reservations and
// new threads, far below what the machine has; a single huge allocation fails at once instead
// of filling gigabytes before the watchdog sees it.
const addressSpaceFactor = 4
const addressSpaceMinimum = 1 << 30

// addressSpace is RLIMIT_AS as the process started with it. The host lowers only its own soft
// limit, and local()'s commands get this one back (command.go): a JVM reserves gigabytes of
// address space it never touches, and would not start under the host's limit.
var addressSpace = startingAddressSpace()

// unlimited is RLIM_INFINITY.
const unlimited = ^uint64(0)

func startingAddressSpace() syscall.Rlimit {
	limit := syscall.Rlimit{Cur: unlimited, Max: unlimited}
	_ = syscall.Getrlimit(syscall.RLIMIT_AS, &limit)
	return limit
}

// limitAddressSpace lowers the soft RLIMIT_AS to bytes (at most the hard limit). The hard limit
// stays, so that a command can be given the original soft limit back; no Starlark code can raise
// the host's.
func limitAddressSpace(bytes uint64) {
	_ = syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: min(bytes, addressSpace.Max), Max: addressSpace.Max})
}

type watchdog struct {
	limit int64
	armed atomic.Bool
	wake  chan struct{}
}

// startWatchdog limits the process: a soft Go heap limit (half the run's limit, so the
// collector works before the limit is near), a soft RLIMIT_AS above the started size, and a
// goroutine that ends the process with exitMemory when the resident size passes the limit during a run.
// Goroutines are preempted, so it fires even while Starlark spins in a loop.
func startWatchdog(limit int64) *watchdog {
	debug.SetMemoryLimit(limit / 2)
	if size := statusBytes("VmSize"); size > 0 {
		limitAddressSpace(uint64(size + max(addressSpaceFactor*limit, addressSpaceMinimum)))
	}
	w := &watchdog{limit: limit, wake: make(chan struct{}, 1)}
	go w.watch()
	return w
}

func (w *watchdog) arm() {
	w.armed.Store(true)
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *watchdog) disarm() { w.armed.Store(false) }

// checkPeak ends the process when its peak resident size (VmHWM) passed the limit: a run can
// outgrow the limit between two looks of the watchdog, or while a long copy inside the Go runtime
// holds every other goroutine (the watchdog's too) at a stop-the-world. Earlier runs of this host
// stayed under the limit, or it would not be serving, so a peak above it is this run's.
func (w *watchdog) checkPeak() {
	if statusBytes("VmHWM") > w.limit {
		os.Exit(exitMemory)
	}
}

func (w *watchdog) watch() {
	for range w.wake {
		for w.armed.Load() {
			if residentBytes() > w.limit {
				os.Exit(exitMemory) // events already written are flushed; nothing else is worth saving
			}
			time.Sleep(watchInterval)
		}
	}
}

// residentBytes is the process's resident size, from /proc/self/statm.
func residentBytes() int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	fields := bytes.Fields(data)
	if len(fields) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(string(fields[1]), 10, 64)
	return pages * int64(os.Getpagesize())
}

// statusBytes is one "kB" line of /proc/self/status, in bytes (0 when unknown).
func statusBytes(key string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(data, []byte("\n")) {
		name, value, ok := bytes.Cut(line, []byte(":"))
		if ok && string(name) == key {
			fields := bytes.Fields(value)
			if len(fields) > 0 {
				kib, _ := strconv.ParseInt(string(fields[0]), 10, 64)
				return kib << 10
			}
		}
	}
	return 0
}
