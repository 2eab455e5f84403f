package probe_test

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

	"github.com/hybridcni/hybridcni/framework/docker"
	"github.com/hybridcni/hybridcni/framework/image"
	"github.com/hybridcni/hybridcni/framework/probe"
)

// TestDockerContainerPlace runs the echo image (built with no registry) as
// two containers and probes one from the other through the Docker API's
// exec: the same `hybridcni probe` the lab runs, now in a container.
func TestDockerContainerPlace(t *testing.T) {
	if testing.Short() || os.Getenv("HYBRIDCNI_UNIT_ONLY") != "" {
		t.Skip("Docker tier: skipped: -short or HYBRIDCNI_UNIT_ONLY")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dc, err := image.Engine(ctx)
	if err != nil {
		t.Skipf("Docker tier: skipped: %v", err)
	}
	t.Log("Docker tier: running") // for the tier summary of make test
	t.Cleanup(func() { dc.Close() })
	// The build is not bounded by the test's clock: under load it may take long.
	bin, err := image.CachedBinary(context.Background(), "hybridcni-probe-test", "probe-test")
	must(t, err)
	img, err := (&image.Builder{Docker: dc, Binary: bin, Version: "probe-test", Logf: t.Logf}).Build(ctx, image.Echo)
	must(t, err)

	suffix := randSuffix()
	labels := map[string]string{"hybridcni.dev/test": "probe-docker-" + suffix}
	netName := "hcp-net-" + suffix
	subnet := freeNetwork(t, dc, netName, labels)
	echoIP, clientIP := subnet.Addr().Next().Next(), subnet.Addr().Next().Next().Next()
	names := map[string]netip.Addr{"hcp-echo-" + suffix: echoIP, "hcp-client-" + suffix: clientIP}
	for name, ip := range names {
		t.Cleanup(func() {
			if t.Failed() {
				if logs, err := dc.Logs(context.Background(), name); err == nil {
					t.Logf("%s logs:\n%s", name, logs)
				}
			}
			if err := dc.RemoveContainer(context.Background(), name); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		})
		_, err := dc.RunContainer(ctx, docker.Container{Name: name, Image: img.Ref, Network: netName, IP: ip,
			Labels: labels, Cmd: []string{"--tcp-port", "9001", "--hostname", name}})
		must(t, err)
	}
	client := probe.Source{Place: probe.InContainer(dc, "hcp-client-"+suffix), Name: "client", IP: clientIP.String()}
	echoName := "echo"
	waitHealthy(t, ctx, client, probe.HTTPTarget(echoName, echoIP.String(), httpPort, "/healthz"))

	good := []probe.Expectation{
		probe.ExpectSuccess("container-to-container", client, probe.HTTPTarget(echoName, echoIP.String(), httpPort, "/clientip"),
			probe.WithSource(clientIP.String(), "the client container's IP")),
		probe.ExpectSuccess("container-to-container", client, probe.UDPTarget(echoName, echoIP.String(), udpPort),
			probe.WithSource(clientIP.String(), "the client container's IP")),
		probe.ExpectSuccess("container-to-container", client, probe.TCPTarget(echoName, echoIP.String(), tcpPort)),
		probe.ExpectFailure("container-to-container/closed-port", client, probe.TCPTarget(echoName, echoIP.String(), closedPort)),
	}
	rep := runCheck(t, good)
	if err := rep.Err(); err != nil {
		t.Fatal(err)
	}

	// A wrong expected source fails with both addresses.
	rep = runCheck(t, []probe.Expectation{probe.ExpectSuccess("container-to-container/wrong-source", client,
		probe.HTTPTarget(echoName, echoIP.String(), httpPort, "/clientip"), probe.WithSource(echoIP.String(), "deliberately wrong"))})
	wantFailure(t, rep, fmt.Sprintf("echo saw source %s, want %s (deliberately wrong)", clientIP, echoIP))

	// The meter runs through Docker exec and stops when its stdin closes.
	m, err := probe.StartMeter(ctx, []probe.MeterPair{{From: client, To: probe.UDPTarget(echoName, echoIP.String(), udpPort)}})
	must(t, err)
	time.Sleep(500 * time.Millisecond) // the measured period
	drep, err := m.Stop()
	must(t, err)
	t.Logf("\n%s", drep.Table())
	if p := drep.Pairs[0]; p.Sent < 15 || p.Lost != 0 {
		t.Fatalf("meter through Docker exec: sent %d lost %d, want ~25 sent and none lost", p.Sent, p.Lost)
	}
}

// waitHealthy polls until the echo container answers (infrastructure
// start-up, bounded).
func waitHealthy(t *testing.T, ctx context.Context, from probe.Source, to probe.Target) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for attempt := 1; ; attempt++ {
		c := probe.NewCheck(probe.WithTimeout(time.Second))
		must(t, c.Expect(probe.ExpectSuccess("start-up", from, to)))
		err := c.Run(ctx).Err()
		if err == nil {
			if attempt > 1 {
				t.Logf("echo container answered after %d attempts", attempt)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("echo container not answering after 30s: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func freeNetwork(t *testing.T, dc *docker.Client, name string, labels map[string]string) netip.Prefix {
	t.Helper()
	for range 10 {
		n, _ := rand.Int(rand.Reader, big.NewInt(250))
		subnet := netip.MustParsePrefix(fmt.Sprintf("10.214.%d.0/24", n.Int64()+1))
		_, err := dc.CreateNetwork(context.Background(), docker.Network{Name: name, Subnet: subnet, Gateway: subnet.Addr().Next(), Labels: labels})
		if err != nil && strings.Contains(err.Error(), "overlaps") {
			continue
		}
		must(t, err)
		t.Cleanup(func() {
			if err := dc.RemoveNetwork(context.Background(), name); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		})
		return subnet
	}
	t.Fatal("no free 10.214.x.0/24 for the test network after 10 tries")
	return netip.Prefix{}
}

func randSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
