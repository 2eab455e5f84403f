// Package nodeimage names the offline kind node image that
// hack/node-image.sh (`make node-image`) builds with no registry, and tells
// whether it is present in the local Docker engine.
package nodeimage

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/hybridcni/hybridcni/framework/docker"
)

// KubernetesVersion is the version the node image is built for by default:
// the newest tools/k8s/<version>, whose go.mod requires that
// k8s.io/kubernetes (a test keeps them equal).
const KubernetesVersion = "v1.37.2"

// Repo is the repository of the offline node images.
const Repo = "hybridcni/node"

// LabelInputs carries the hash of everything the image was built from.
const LabelInputs = "dev.hybridcni.node-image.inputs"

// Tag returns the node image reference for a Kubernetes version ("1.37.2"
// or "v1.37.2").
func Tag(version string) string {
	return Repo + ":v" + strings.TrimPrefix(strings.TrimSpace(version), "v")
}

// Present reports whether the node image for version is in the engine.
func Present(ctx context.Context, c *docker.Client, version string) (string, bool, error) {
	tag := Tag(version)
	ok, err := c.ImageExists(ctx, tag)
	return tag, ok, err
}

// MissingReason is the one line printed when the image is absent.
func MissingReason(tag string) string {
	return fmt.Sprintf("offline kind node image %s is not built: run `make node-image` (hack/node-image.sh, ~25 min cold on 2 cores, cached afterwards)", tag)
}

// Build runs hack/node-image.sh from the repository at root and returns the
// tag it printed. The script reuses its cache and exits at once when the
// image is up to date.
func Build(ctx context.Context, root string, stderr *os.File) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "node-image.sh"))
	cmd.Dir = root
	cmd.Stderr = stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hack/node-image.sh: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}
