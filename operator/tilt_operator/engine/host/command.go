package main

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// commandMode is how the host starts a local() command: it starts itself again with
//
//	tiltfile-host <commandMode> SOFT-RLIMIT-AS PATH ARGV...
//
// which gives the address-space limit the host started with back (the host's own is lowered, see
// limits.go) and then becomes the command. The command thus starts as the host's child, in its
// process group and dying with it, without the host's limit.
const commandMode = "--exec-command"

// execCommandArgs are the host's arguments that run argv, found at path, with the original limit.
func execCommandArgs(path string, argv []string) []string {
	return append([]string{commandMode, strconv.FormatUint(addressSpace.Cur, 10), path}, argv...)
}

// execCommand is the host started in commandMode (args are what follows it): it never returns.
// A command that cannot be executed exits 127, as a shell's does, having said why.
func execCommand(args []string) {
	if len(args) < 3 {
		fmt.Fprintf(os.Stderr, "%s: want SOFT-RLIMIT-AS PATH ARGV...\n", commandMode)
		os.Exit(2)
	}
	if soft, err := strconv.ParseUint(args[0], 10, 64); err == nil {
		var limit syscall.Rlimit
		if syscall.Getrlimit(syscall.RLIMIT_AS, &limit) == nil {
			limit.Cur = min(soft, limit.Max)
			_ = syscall.Setrlimit(syscall.RLIMIT_AS, &limit)
		}
	}
	err := syscall.Exec(args[1], args[2:], os.Environ())
	fmt.Fprintf(os.Stderr, "%s: %v\n", args[1], err)
	os.Exit(127)
}
