package docker

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// engine connects to the local engine or skips with one line.
func engine(t *testing.T) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := New(ctx)
	if err != nil {
		t.Skipf("Docker tier: skipped: %v", err)
	}
	t.Log("Docker tier: running") // for the tier summary of make test
	t.Cleanup(func() { c.Close() })
	return c
}

func TestNoEngineSaysWhatToDo(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	_, err := New(context.Background())
	if !errors.Is(err, ErrNoEngine) || !strings.Contains(err.Error(), "docker-up.sh") || !strings.Contains(err.Error(), "/nonexistent/docker.sock") {
		t.Fatalf("error %v should say no engine answers where, and how to start one", err)
	}
}

func TestNetworkLifecycleAndOverlap(t *testing.T) {
	c := engine(t)
	ctx := context.Background()
	label := "hybridcni.dev/test=" + t.Name()
	name := "hcni-test-net-" + time.Now().Format("150405.000")
	name = strings.ReplaceAll(name, ".", "")
	subnet := netip.MustParsePrefix("10.211.77.0/24")
	t.Cleanup(func() { c.RemoveNetwork(context.Background(), name) })
	if _, err := c.CreateNetwork(ctx, Network{
		Name: name, Subnet: subnet, Gateway: netip.MustParseAddr("10.211.77.1"),
		IPRange: netip.MustParsePrefix("10.211.77.0/25"),
		Labels:  map[string]string{"hybridcni.dev/test": t.Name()},
	}); err != nil {
		t.Fatal(err)
	}
	clash, err := c.NetworkOverlapping(ctx, netip.MustParsePrefix("10.211.0.0/16"))
	if err != nil || clash != name {
		t.Fatalf("overlap = %q, %v; want %q", clash, err, name)
	}
	_, err = c.CreateNetwork(ctx, Network{Name: name + "-2", Subnet: netip.MustParsePrefix("10.211.77.128/25")})
	if err == nil || !strings.Contains(err.Error(), name) {
		t.Fatalf("overlapping create: %v, want a refusal naming %s", err, name)
	}
	objs, err := c.ListLabelled(ctx, label)
	if err != nil || len(objs) != 1 || objs[0].Kind != "network" || objs[0].Name != name {
		t.Fatalf("labelled = %+v, %v", objs, err)
	}
	if time.Since(objs[0].Created) > time.Hour {
		t.Errorf("created time %v not read", objs[0].Created)
	}
	if err := c.Remove(ctx, objs[0]); err != nil {
		t.Fatal(err)
	}
	if objs, _ := c.ListLabelled(ctx, label); len(objs) != 0 {
		t.Fatalf("left behind: %+v", objs)
	}
	if err := c.RemoveNetwork(ctx, name); err != nil {
		t.Fatalf("removing a missing network: %v", err)
	}
}
