package docker

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// ExecStream runs argv inside a running container, streaming stdin (nil:
// none) in and stdout/stderr (nil: discarded) out as it runs, and returns
// its exit code. Cancelling ctx closes the stream.
func (c *Client) ExecStream(ctx context.Context, name string, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	created, err := c.api.ContainerExecCreate(ctx, name, container.ExecOptions{
		Cmd: argv, AttachStdin: stdin != nil, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", name, err)
	}
	att, err := c.api.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return -1, fmt.Errorf("attach to exec in %s: %w", name, err)
	}
	defer att.Close()
	stop := context.AfterFunc(ctx, func() { att.Close() })
	defer stop()
	if stdin != nil {
		go func() {
			_, _ = io.Copy(att.Conn, stdin)
			_ = att.CloseWrite()
		}()
	}
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	if _, err := stdcopy.StdCopy(stdout, stderr, att.Reader); err != nil && ctx.Err() == nil {
		return -1, fmt.Errorf("read exec output from %s: %w", name, err)
	}
	if ctx.Err() != nil {
		return -1, fmt.Errorf("exec %s in %s: %w", argv[0], name, ctx.Err())
	}
	// The stream ends a moment before Docker records the exit code.
	for deadline := time.Now().Add(10 * time.Second); ; {
		insp, err := c.api.ContainerExecInspect(ctx, created.ID)
		if err != nil {
			return -1, fmt.Errorf("inspect exec in %s: %w", name, err)
		}
		if !insp.Running {
			return insp.ExitCode, nil
		}
		if time.Now().After(deadline) {
			return -1, fmt.Errorf("exec %s in %s still running 10s after its output ended", argv[0], name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
