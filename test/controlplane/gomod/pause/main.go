// The pod sandbox process of the test node: holds the pod's namespaces, reaps the zombies of
// processes that share its PID namespace, and exits on SIGINT/SIGTERM. A registry image
// (registry.k8s.io/pause) cannot be pulled here, so the node's sandbox image is this binary alone.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
