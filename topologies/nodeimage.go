package topologies

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"

	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/docker"
)

// nodeImages pins a kind node image by digest per Kubernetes version, as
// published for the kind library this module builds with (sigs.k8s.io/kind v0.33.0).
var nodeImages = map[string]string{
	"1.37.0":  "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5",
	"1.36.4":  "kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed",
	"1.35.8":  "kindest/node:v1.35.8@sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0",
	"1.34.11": "kindest/node:v1.34.11@sha256:44e222ee2132dab25ff87301682f89eb82c7880ea3a1bf543bfe9708fd08d67d",
}

// NodeImage returns the pinned kind node image for a Kubernetes version. A
// bare minor ("1.36") picks that minor's pinned patch.
func NodeImage(kubernetesVersion string) (string, error) {
	v := strings.TrimPrefix(strings.TrimSpace(kubernetesVersion), "v")
	if img, ok := nodeImages[v]; ok {
		return img, nil
	}
	if want, err := semver.NewVersion(v); err == nil && strings.Count(v, ".") == 1 {
		for k, img := range nodeImages {
			if have := semver.MustParse(k); have.Major() == want.Major() && have.Minor() == want.Minor() {
				return img, nil
			}
		}
	}
	return "", config.Invalid("kubernetes.version",
		fmt.Sprintf("no kind node image is pinned for Kubernetes %s", kubernetesVersion),
		"use one of "+strings.Join(KubernetesVersions(), ", ")+", or pass a node image explicitly (--node-image)")
}

// KubernetesVersions lists the versions with a pinned node image, newest first.
func KubernetesVersions() []string {
	out := make([]string, 0, len(nodeImages))
	for v := range nodeImages {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return semver.MustParse(out[i]).GreaterThan(semver.MustParse(out[j])) })
	return out
}

// LocalNodeImages lists node images built here (hack/node-image.sh tags
// them hybridcni/node:<kubernetes version>).
func LocalNodeImages(dc *docker.Client) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	imgs, err := dc.API().ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("reference", "hybridcni/node"))})
	if err != nil {
		return nil
	}
	var out []string
	for _, im := range imgs {
		out = append(out, im.RepoTags...)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(out)))
	return out
}
