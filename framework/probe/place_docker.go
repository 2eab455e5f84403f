package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
)

// Container is a place in a Docker container: commands run through the
// Docker API's exec.
type Container struct {
	Client *client.Client
	// ID is the container's name or ID.
	ID string
	// Bin is the argv prefix that runs hybridcni (default /hybridcni).
	Bin []string
}

// InContainer returns a container place running hybridcni as /hybridcni.
func InContainer(cli *client.Client, id string) *Container {
	return &Container{Client: cli, ID: id}
}

func (c *Container) String() string { return "container " + c.ID }

func (c *Container) Command() []string {
	if len(c.Bin) == 0 {
		return []string{DefaultBin}
	}
	return append([]string(nil), c.Bin...)
}

// Exec runs argv in the container and returns its exit code.
func (c *Container) Exec(ctx context.Context, argv []string, stdio Stdio) (int, error) {
	if c.Client == nil || c.ID == "" {
		return -1, errors.New("probe: container place needs Client and ID: build it with probe.InContainer")
	}
	created, err := c.Client.ContainerExecCreate(ctx, c.ID, container.ExecOptions{
		Cmd:          argv,
		AttachStdin:  stdio.Stdin != nil,
		AttachStdout: true,
		AttachStderr: true,
	})
	if err != nil {
		return -1, fmt.Errorf("probe: %s: exec create: %w", c, err)
	}
	att, err := c.Client.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return -1, fmt.Errorf("probe: %s: exec attach: %w", c, err)
	}
	defer att.Close()
	stop := context.AfterFunc(ctx, func() { att.Close() })
	defer stop()
	if stdio.Stdin != nil {
		go func() {
			_, _ = io.Copy(att.Conn, stdio.Stdin)
			_ = att.CloseWrite()
		}()
	}
	if _, err := stdcopy.StdCopy(orDiscard(stdio.Stdout), orDiscard(stdio.Stderr), att.Reader); err != nil && ctx.Err() == nil {
		return -1, fmt.Errorf("probe: %s: exec output: %w", c, err)
	}
	if ctx.Err() != nil {
		return -1, fmt.Errorf("probe: %s: exec %s: %w", c, argv[0], ctx.Err())
	}
	// The stream ends a moment before Docker records the exit code.
	for deadline := time.Now().Add(10 * time.Second); ; {
		insp, err := c.Client.ContainerExecInspect(ctx, created.ID)
		if err != nil {
			return -1, fmt.Errorf("probe: %s: exec inspect: %w", c, err)
		}
		if !insp.Running {
			return insp.ExitCode, nil
		}
		if time.Now().After(deadline) {
			return -1, fmt.Errorf("probe: %s: exec %s still running 10s after its output ended", c, argv[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
