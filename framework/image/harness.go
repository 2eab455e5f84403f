package image

import (
	"context"
	"fmt"
	"os"

	"github.com/hybridcni/hybridcni/framework/docker"
)

// HarnessRefs are the router and echo image references of a version.
func HarnessRefs(version string) (router, echo string) {
	return Ref(Router.Name, version), Ref(Echo.Name, version)
}

// SelfBinary is the running binary when it can go into an image (static).
func SelfBinary() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	if err := CheckStatic(exe); err != nil {
		return "", err
	}
	return exe, nil
}

// BuildHarness builds the router and echo images of version from binary
// (default: this binary when static, else a fresh static build from the
// module in the working directory). Images built from the same binary are kept.
func BuildHarness(ctx context.Context, dc *docker.Client, binary, version string, logf func(string, ...any)) ([]Image, error) {
	if binary == "" {
		self, err := SelfBinary()
		if err != nil {
			var berr error
			if self, berr = CachedBinary(ctx, "hybridcni-harness", version); berr != nil {
				return nil, fmt.Errorf("cannot build the harness images: this binary is not static (%v) and no static build was possible (%v); run `make images`", err, berr)
			}
		}
		binary = self
	}
	b := &Builder{Docker: dc, Binary: binary, Version: version, Logf: logf}
	var out []Image
	for _, s := range All {
		im, err := b.Build(ctx, s)
		if err != nil {
			return out, err
		}
		out = append(out, im)
	}
	return out, nil
}
