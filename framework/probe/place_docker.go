package probe

import (
	"context"
	"errors"
	"fmt"

	"github.com/hybridcni/hybridcni/framework/docker"
)

// Container is a place in a Docker container: commands run through
// framework/docker's exec.
type Container struct {
	Client *docker.Client
	// ID is the container's name or ID.
	ID string
	// Bin is the argv prefix that runs hybridcni (default /hybridcni).
	Bin []string
}

// InContainer returns a container place running hybridcni as /hybridcni.
func InContainer(dc *docker.Client, id string) *Container {
	return &Container{Client: dc, ID: id}
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
	code, err := c.Client.ExecStream(ctx, c.ID, argv, stdio.Stdin, stdio.Stdout, stdio.Stderr)
	if err != nil {
		return -1, fmt.Errorf("probe: %w", err) // names the container
	}
	return code, nil
}
