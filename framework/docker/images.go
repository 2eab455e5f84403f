package docker

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// SaveImages writes the images to w as one `docker save` archive.
func (c *Client) SaveImages(ctx context.Context, refs []string, w io.Writer) error {
	rc, err := c.api.ImageSave(ctx, refs)
	if err != nil {
		return fmt.Errorf("save images %s: %w", strings.Join(refs, ", "), err)
	}
	defer rc.Close()
	if _, err := io.Copy(w, rc); err != nil {
		return fmt.Errorf("save images: %w", err)
	}
	return nil
}

// LoadImages loads a `docker save` archive into the engine.
func (c *Client) LoadImages(ctx context.Context, r io.Reader) error {
	resp, err := c.api.ImageLoad(ctx, r)
	if err != nil {
		return fmt.Errorf("load images: %w", err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if strings.Contains(string(out), `"error"`) {
		return fmt.Errorf("load images: %s", strings.TrimSpace(string(out)))
	}
	return nil
}
