package main

import (
	"context"
	"fmt"

	"github.com/hybridcni/hybridcni/framework/buildinfo"
	"github.com/hybridcni/hybridcni/framework/docker"
	"github.com/hybridcni/hybridcni/framework/image"
	"github.com/hybridcni/hybridcni/topologies"
)

// harnessImages are the router and echo images of this build.
func harnessImages() topologies.Images {
	r, e := image.HarnessRefs(buildinfo.Version)
	return topologies.Images{Router: r, Echo: e}
}

// buildable says whether an absent harness image can be built from this binary.
func buildable(ref string) bool {
	h := harnessImages()
	if ref != h.Router && ref != h.Echo {
		return false
	}
	_, err := image.SelfBinary()
	return err == nil
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
			return nil, fmt.Errorf("look for %s: %w", ref, err)
		}
		if !ok {
			missing = append(missing, ref)
		}
	}
	return missing, nil
}
