package docker

import (
	"context"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
)

// ImageInfo is a local image: its tags (none when dangling), labels and age.
type ImageInfo struct {
	ID     string
	Tags   []string // repo:tag references, without <none>:<none>
	Labels map[string]string
	// Created is zero when the image claims the epoch (reproducible builds).
	Created time.Time
	Parent  string
}

// Dangling reports an image without tags.
func (i ImageInfo) Dangling() bool { return len(i.Tags) == 0 }

// ListImages lists the local images (not their intermediate layers).
func (c *Client) ListImages(ctx context.Context) ([]ImageInfo, error) {
	ims, err := c.api.ImageList(ctx, image.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	out := make([]ImageInfo, 0, len(ims))
	for _, im := range ims {
		info := ImageInfo{ID: im.ID, Labels: im.Labels, Parent: im.ParentID}
		if im.Created > 0 {
			info.Created = time.Unix(im.Created, 0)
		}
		for _, t := range im.RepoTags {
			if t != "<none>:<none>" {
				info.Tags = append(info.Tags, t)
			}
		}
		out = append(out, info)
	}
	return out, nil
}

// ContainerImages maps every container, running or stopped, to the ID of
// the image it uses.
func (c *Client) ContainerImages(ctx context.Context) (map[string]string, error) {
	cs, err := c.api.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make(map[string]string, len(cs))
	for _, ct := range cs {
		out[ct.ID] = ct.ImageID
	}
	return out, nil
}
