package docker

import (
	"bytes"
	"context"
	"fmt"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// ExecResult is the outcome of a command run inside a container.
type ExecResult struct {
	Stdout, Stderr string
	ExitCode       int
}

// Exec runs cmd inside a running container and waits for it.
func (c *Client) Exec(ctx context.Context, name string, cmd []string) (ExecResult, error) {
	created, err := c.api.ContainerExecCreate(ctx, name, container.ExecOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return ExecResult{}, fmt.Errorf("exec in %s: %w", name, err)
	}
	att, err := c.api.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return ExecResult{}, fmt.Errorf("attach to exec in %s: %w", name, err)
	}
	defer att.Close()
	var out, errOut bytes.Buffer
	done := make(chan error, 1)
	go func() { _, err := stdcopy.StdCopy(&out, &errOut, att.Reader); done <- err }()
	select {
	case <-ctx.Done():
		return ExecResult{}, fmt.Errorf("exec in %s: %w", name, ctx.Err())
	case err := <-done:
		if err != nil {
			return ExecResult{}, fmt.Errorf("read exec output from %s: %w", name, err)
		}
	}
	insp, err := c.api.ContainerExecInspect(ctx, created.ID)
	if err != nil {
		return ExecResult{}, fmt.Errorf("inspect exec in %s: %w", name, err)
	}
	return ExecResult{Stdout: out.String(), Stderr: errOut.String(), ExitCode: insp.ExitCode}, nil
}
