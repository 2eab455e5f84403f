package docker

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/image"
)

// ImageID returns a local image's ID; ok is false when it is absent.
func (c *Client) ImageID(ctx context.Context, ref string) (id string, ok bool, err error) {
	info, err := c.api.ImageInspect(ctx, ref)
	if isNotFound(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	return info.ID, true, nil
}

// RemoveImage deletes an image by ID or reference; a missing one is not an
// error. An image a container still uses is kept (the engine refuses).
func (c *Client) RemoveImage(ctx context.Context, ref string) error {
	_, err := c.api.ImageRemove(ctx, ref, image.RemoveOptions{PruneChildren: true})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("remove image %s: %w", ref, err)
	}
	return nil
}
