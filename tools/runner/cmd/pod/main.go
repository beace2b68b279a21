// Command pod holds the network namespace an app and its daprd share in
// Docker Compose, as Kubernetes' pause container holds a pod's. Compose
// joins both to it (network_mode: service:<app>-pod), so either can crash
// and be restarted into the same loopback: joined to each other instead,
// a restarted app would come back in a new namespace and its daprd, left
// in the old one, would call a port nobody listens on.
//
// `pod check URL…` is the pod's healthcheck (the images have no shell):
// every URL must answer 2xx within two seconds.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "check" {
		os.Exit(check(os.Args[2:], os.Stderr))
	}
	if len(os.Args) > 1 {
		fmt.Fprintln(os.Stderr, "usage: pod [check URL…]")
		os.Exit(2)
	}
	// As PID 1 the kernel delivers it no signal it has no handler for:
	// without this, docker stop would wait its whole timeout, then kill.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	<-ctx.Done()
}

func check(urls []string, stderr io.Writer) int {
	if len(urls) == 0 {
		fmt.Fprintln(stderr, "usage: pod check URL…")
		return 2
	}
	c := &http.Client{Timeout: 2 * time.Second}
	for _, u := range urls {
		resp, err := c.Get(u)
		if err != nil {
			fmt.Fprintln(stderr, "check:", err)
			return 1
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			fmt.Fprintln(stderr, "check:", u, resp.Status)
			return 1
		}
	}
	return 0
}
