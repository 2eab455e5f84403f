package main

import (
	"context"
	"fmt"
	"os"

	"github.com/hybridcni/hybridcni/framework/docker"
	"github.com/hybridcni/hybridcni/framework/image"
	"github.com/hybridcni/hybridcni/framework/version"
	"github.com/hybridcni/hybridcni/topologies"
)

// harnessImages are the router and echo images of this build.
func harnessImages() topologies.Images {
	return topologies.Images{Router: image.Ref(image.Router.Name, version.Version), Echo: image.Ref(image.Echo.Name, version.Version)}
}

// selfBinary is this process's binary when it can go into an image
// (static), else "" and why not.
func selfBinary() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	if err := image.CheckStatic(exe); err != nil {
		return "", err
	}
	return exe, nil
}

// buildable says whether an absent harness image can be built from this binary.
func buildable(ref string) bool {
	h := harnessImages()
	if ref != h.Router && ref != h.Echo {
		return false
	}
	_, err := selfBinary()
	return err == nil
}

// buildHarnessImages builds the router and echo images from binary (default
// this one); images already built from the same binary are kept.
func buildHarnessImages(ctx context.Context, dc *docker.Client, binary string, logf func(string, ...any)) ([]image.Image, error) {
	if binary == "" {
		var err error
		if binary, err = selfBinary(); err != nil {
			return nil, fmt.Errorf("cannot build the harness images from this binary: %w", err)
		}
	}
	b := &image.Builder{Docker: dc, Binary: binary, Version: version.Version, Logf: logf}
	var out []image.Image
	for _, s := range image.All {
		im, err := b.Build(ctx, s)
		if err != nil {
			return out, err
		}
		out = append(out, im)
	}
	return out, nil
}

// missingHarnessImages lists the harness images the topology needs and the engine lacks.
func missingHarnessImages(ctx context.Context, dc *docker.Client, topo topologies.Topology) ([]string, error) {
	h := harnessImages()
	var need, missing []string
	if topo.Router {
		need = append(need, h.Router)
	}
	if topo.OnPremHost {
		need = append(need, h.Echo)
	}
	for _, ref := range need {
		ok, err := dc.ImageExists(ctx, ref)
		if err != nil {
			return nil, err
		}
		if !ok {
			missing = append(missing, ref)
		}
	}
	return missing, nil
}
