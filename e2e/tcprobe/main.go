//go:build e2e

// Command tcprobe is what a user's Testcontainers test does, run by the e2e
// suite as its own process so that each run finds the docker host afresh
// (testcontainers-go settles it once per process): it starts a container
// with an exposed port and an HTTP wait strategy, reaches the mapped port
// from the host, and prints what it got.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "tcprobe:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := testcontainers.Run(ctx, "berth/welcome:latest",
		testcontainers.WithExposedPorts("80/tcp"),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/").WithPort("80/tcp").WithStartupTimeout(2*time.Minute)),
	)
	if err != nil {
		return fmt.Errorf("run container: %w", err)
	}
	defer testcontainers.TerminateContainer(c)
	host, err := c.Host(ctx)
	if err != nil {
		return err
	}
	port, err := c.MappedPort(ctx, "80/tcp")
	if err != nil {
		return err
	}
	url := fmt.Sprintf("http://%s:%s/", host, port.Port())
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	fmt.Printf("GET %s: %d, %d bytes\n", url, resp.StatusCode, len(body))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
