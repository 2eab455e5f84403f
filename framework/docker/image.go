package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/docker/docker/api/types/image"
)

// ImportImage creates image ref from a root filesystem tar (as
// `docker import`), applying Dockerfile-style changes such as
// `ENTRYPOINT ["/bin"]` or `LABEL k=v`. It needs no registry and no BuildKit.
func (c *Client) ImportImage(ctx context.Context, rootfs io.Reader, ref string, changes []string) (string, error) {
	rc, err := c.api.ImageImport(ctx, image.ImportSource{Source: rootfs, SourceName: "-"}, ref, image.ImportOptions{Changes: changes})
	if err != nil {
		return "", fmt.Errorf("import image %s: %w", ref, err)
	}
	defer rc.Close()
	// The engine streams JSON progress lines; the last carries the id or an error.
	dec := json.NewDecoder(rc)
	var id string
	for {
		var m struct {
			Status      string `json:"status"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			return "", fmt.Errorf("import image %s: read engine reply: %w", ref, err)
		}
		if m.ErrorDetail != nil {
			return "", fmt.Errorf("import image %s: %s", ref, m.ErrorDetail.Message)
		}
		if s := strings.TrimSpace(m.Status); strings.HasPrefix(s, "sha256:") {
			id = s
		}
	}
	return id, nil
}

// ImageLabels returns a local image's labels; ok is false when the image
// is absent.
func (c *Client) ImageLabels(ctx context.Context, ref string) (labels map[string]string, ok bool, err error) {
	info, err := c.api.ImageInspect(ctx, ref)
	if isNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	if info.Config != nil {
		labels = info.Config.Labels
	}
	return labels, true, nil
}

// ImageEntrypoint returns a local image's entrypoint.
func (c *Client) ImageEntrypoint(ctx context.Context, ref string) ([]string, error) {
	info, err := c.api.ImageInspect(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	if info.Config == nil {
		return nil, nil
	}
	return info.Config.Entrypoint, nil
}
