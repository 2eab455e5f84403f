package topologies

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/docker"
	"github.com/hybridcni/hybridcni/framework/image"
)

// testVersion tags the images the Docker tests build (rebuilt only when
// the binary changes).
const testVersion = "topotest"

// dockerTier connects to the engine, or skips with one line.
func dockerTier(t testing.TB) *docker.Client {
	t.Helper()
	if os.Getenv("HYBRIDCNI_UNIT_ONLY") == "1" {
		t.Skip("Docker tier: skipped: HYBRIDCNI_UNIT_ONLY=1")
	}
	if os.Geteuid() != 0 {
		t.Skip("Docker tier: skipped: needs root to enter container network namespaces")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dc, err := image.Engine(ctx)
	if err != nil {
		t.Skipf("Docker tier: skipped: %v", err)
	}
	t.Log("Docker tier: running") // for the tier summary of make test
	t.Cleanup(func() { dc.Close() })
	return dc
}

var (
	buildOnce sync.Once
	built     struct {
		bin    string
		images Images
		err    error
	}
)

// harness builds the static hybridcni binary and the router and echo
// images from it, once per test binary.
func harness(t testing.TB, dc *docker.Client) (string, Images) {
	t.Helper()
	buildOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		// One cached binary per test version: go build relinks only when
		// the code changed.
		// The build is not bounded by a clock (it may be slow under load).
		if built.bin, built.err = image.CachedBinary(context.Background(), "hybridcni-"+testVersion, testVersion); built.err != nil {
			return
		}
		b := &image.Builder{Docker: dc, Binary: built.bin, Version: testVersion, Logf: t.Logf}
		for _, s := range image.All {
			if _, built.err = b.Build(ctx, s); built.err != nil {
				return
			}
		}
		built.images = Images{Router: image.Ref(image.Router.Name, testVersion), Echo: image.Ref(image.Echo.Name, testVersion)}
	})
	if built.err != nil {
		t.Fatalf("build the harness images: %v", built.err)
	}
	return built.bin, built.images
}

var cidrMu sync.Mutex

// testRun is a run on a node CIDR no Docker network uses yet (10.2xx.y.0/24)
// with a pod CIDR next to it, named for the test.
func testRun(t testing.TB, dc *docker.Client, edit func(*config.Run)) config.Run {
	t.Helper()
	cidrMu.Lock()
	defer cidrMu.Unlock()
	ctx := context.Background()
	for i := 0; i < 200; i++ {
		y := (os.Getpid() + i) % 250
		node := netip.MustParsePrefix(fmt.Sprintf("10.213.%d.0/24", y))
		if clash, err := dc.NetworkOverlapping(ctx, node); err != nil {
			t.Fatal(err)
		} else if clash != "" {
			continue
		}
		r, err := config.Parse(nil, func(r *config.Run) {
			r.Name = "topotest"
			r.Network.NodeCIDR = node.String()
			r.Network.PodCIDR = fmt.Sprintf("10.214.%d.0/24", y)
			r.Network.BlockSize = 26
			r.BGP.RouterAddress = ""
			r.BGP.Enabled = true
			r.Network.Masquerade = false
			if edit != nil {
				edit(r)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Validate(); err != nil {
			t.Fatal(err)
		}
		return r
	}
	t.Fatal("no free 10.213.y.0/24 for the node network")
	return config.Run{}
}

// leftovers lists what still carries a run's label, plus kind nodes.
func leftovers(t testing.TB, dc *docker.Client, name string) []docker.Object {
	t.Helper()
	objs, err := dc.ListLabelled(context.Background(), LabelRun+"="+name)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := dc.ListLabelled(context.Background(), KindClusterLabel+"="+name)
	if err != nil {
		t.Fatal(err)
	}
	return append(objs, nodes...)
}

// cleanupRun removes whatever a test leaves, even on failure.
func cleanupRun(t testing.TB, dc *docker.Client, name string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := GC(ctx, dc, GCOptions{Run: name}); err != nil {
			t.Logf("cleanup of %s: %v", name, err)
		}
	})
}

func names(objs []docker.Object) string {
	var s []string
	for _, o := range objs {
		s = append(s, o.Kind+" "+o.Name)
	}
	return strings.Join(s, ", ")
}
