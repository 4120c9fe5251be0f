// The pod sandbox's first process for the local node (tilt_operator.devcluster.images): it holds
// the pod's namespaces open, reaps the orphans that end up as its children, and exits on SIGTERM
// or SIGINT. A stand-in for the pause image a kubelet pulls from a registry, which none here serves.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
