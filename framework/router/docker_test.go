package router

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/hybridcni/hybridcni/framework/docker"
	"github.com/hybridcni/hybridcni/framework/image"
	"github.com/hybridcni/hybridcni/framework/lab"
)

// The router image, built here with no registry, runs on a user-defined
// Docker network; an in-process GoBGP speaker on the host peers with it,
// the harness reads the route over the image's gRPC API, the route is in
// the container's kernel table, and `docker stop` removes it cleanly.
func TestDockerRouterImage(t *testing.T) {
	if testing.Short() || os.Getenv("HYBRIDCNI_UNIT_ONLY") != "" {
		t.Skip("Docker tier: skipped: -short or HYBRIDCNI_UNIT_ONLY")
	}
	lab.RequireRoot(t)
	ctx := context.Background()
	dc, err := image.Engine(ctx)
	if err != nil {
		t.Skipf("Docker tier: skipped: %v", err)
	}
	t.Log("Docker tier: running") // for the tier summary of make test
	t.Cleanup(func() { dc.Close() })

	bin, err := image.CachedBinary(ctx, "hybridcni-router-test", "test")
	if err != nil {
		t.Fatal(err)
	}
	b := &image.Builder{Docker: dc, Binary: bin, Version: "test", Logf: t.Logf}
	img, err := b.Build(ctx, image.Router)
	if err != nil {
		t.Fatal(err)
	}

	suffix := randHex(3)
	label := map[string]string{"hybridcni.dev/test": "router-docker-" + suffix}
	netName := "hcr-net-" + suffix
	subnet := createFreeNetwork(t, dc, netName, label)
	gw := subnet.Addr().Next()
	routerIP := gw.Next()
	ctrName := "hcr-router-" + suffix
	t.Cleanup(func() {
		if t.Failed() {
			if logs, err := dc.Logs(context.Background(), ctrName); err == nil {
				t.Logf("router container logs:\n%s", logs)
			}
		}
		if err := dc.RemoveContainer(context.Background(), ctrName); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	_, err = dc.RunContainer(ctx, docker.Container{
		Name:    ctrName,
		Image:   img.Ref,
		Network: netName,
		IP:      routerIP,
		CapAdd:  []string{"NET_ADMIN"},
		Sysctls: map[string]string{"net.ipv4.ip_forward": "1"},
		Labels:  label,
		Cmd: []string{
			"--asn", fmt.Sprint(routerASN), "--router-id", routerIP.String(),
			"--neighbor-prefix", subnet.String(), "--neighbor-asn", fmt.Sprint(nodeASN),
			"--api-address", "0.0.0.0:50051",
			"--hold-time", "9s", "--keepalive", "3s", "--connect-retry", "1s",
		},
	})
	if err != nil {
		t.Fatal(err)
	}

	// The host is the node: an in-process GoBGP speaker on the bridge gateway.
	host := Node{Name: "host", Address: gw.String()}
	spk, err := New(Config{
		ASN: nodeASN, RouterID: gw.String(), ListenPort: -1,
		Neighbors:    []Neighbor{{Address: routerIP.String(), ASN: routerASN, LocalAddress: gw.String()}},
		HoldTime:     9 * time.Second,
		Keepalive:    3 * time.Second,
		ConnectRetry: 1 * time.Second,
	}, WithLogf(prefixLogf(t, "host speaker")))
	if err != nil {
		t.Fatal(err)
	}
	if err := spk.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = spk.Stop() })
	const block = "10.85.7.0/24"
	if err := spk.Client().Advertise(ctx, block, gw.String(), "65001:7"); err != nil {
		t.Fatal(err)
	}

	// The harness's client over the container's gRPC API.
	c, err := Dial(routerIP.String() + ":50051")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	k := NewChecker(c)
	k.Timeout = 30 * time.Second
	waitAPI(t, c)
	if err := k.PeerEstablished(ctx, host); err != nil {
		t.Fatal(err)
	}
	if err := k.PrefixLearned(ctx, host, block); err != nil {
		t.Fatal(err)
	}
	routes, err := c.Routes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range routes {
		if r.Prefix == block && r.NextHop == gw.String() && len(r.Communities) == 1 && r.Communities[0] == "65001:7" {
			found = true
		}
	}
	if !found {
		t.Fatalf("route %s via %s with community 65001:7 not read back: %v", block, gw, routes)
	}

	// The container's kernel routes the pod block to the node.
	pid, err := dc.ContainerPID(ctx, ctrName)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := lab.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := ns.WaitRoutes(wctx, func(rs []lab.Route) (bool, string) {
		for _, r := range rs {
			if r.Dst == block && r.Gw == gw.String() && r.Protocol == ProtoBGP {
				return true, ""
			}
		}
		return false, "no route " + block + " via " + gw.String() + " proto bgp in the router container"
	}); err != nil {
		t.Fatal(err)
	}

	// docker stop (SIGTERM): clean exit, installed route removed.
	timeout := 10
	if err := dc.API().ContainerStop(ctx, ctrName, container.StopOptions{Timeout: &timeout}); err != nil {
		t.Fatal(err)
	}
	info, err := dc.API().ContainerInspect(ctx, ctrName)
	if err != nil {
		t.Fatal(err)
	}
	logs, _ := dc.Logs(ctx, ctrName)
	if info.State.ExitCode != 0 || !strings.Contains(logs, "removed 1 installed routes") {
		t.Fatalf("after docker stop: exit code %d, want 0 and the route removed; logs:\n%s", info.State.ExitCode, logs)
	}
}

// waitAPI waits (bounded) for the container's API to answer: start-up.
func waitAPI(t *testing.T, c *Client) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Peers(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("router API did not answer within 20s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// createFreeNetwork makes a labelled bridge network on a random
// 10.213.x.0/24 no other network uses (bounded tries), removed at cleanup.
func createFreeNetwork(t *testing.T, dc *docker.Client, name string, labels map[string]string) netip.Prefix {
	t.Helper()
	for i := 0; i < 10; i++ {
		n, _ := rand.Int(rand.Reader, big.NewInt(250))
		subnet := netip.MustParsePrefix(fmt.Sprintf("10.213.%d.0/24", n.Int64()+1))
		_, err := dc.CreateNetwork(context.Background(), docker.Network{Name: name, Subnet: subnet, Gateway: subnet.Addr().Next(), Labels: labels})
		if err != nil && strings.Contains(err.Error(), "overlaps") {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := dc.RemoveNetwork(context.Background(), name); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		})
		return subnet
	}
	t.Fatal("no free 10.213.x.0/24 for the test network after 10 tries")
	return netip.Prefix{}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
