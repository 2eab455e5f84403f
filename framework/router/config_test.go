package router

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestValidateNamesFieldAndFix(t *testing.T) {
	good := Config{ASN: 64512, RouterID: "10.0.0.1", NeighborPrefixes: []string{"10.80.0.0/16"}}
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	cases := []struct {
		name  string
		mod   func(*Config)
		field string
	}{
		{"no asn", func(c *Config) { c.ASN = 0 }, "asn"},
		{"router id", func(c *Config) { c.RouterID = "router1" }, "router-id"},
		{"ipv6 router id", func(c *Config) { c.RouterID = "fd00::1" }, "router-id"},
		{"listen address", func(c *Config) { c.ListenAddresses = []string{"eth0"} }, "listen-address"},
		{"listen port", func(c *Config) { c.ListenPort = 70000 }, "listen-port"},
		{"neighbor prefix", func(c *Config) { c.NeighborPrefixes = []string{"10.80.0.0"} }, "neighbor-prefix"},
		{"dynamic without listening", func(c *Config) { c.ListenPort = -1 }, "listen-port"},
		{"static neighbor address", func(c *Config) { c.Neighbors = []Neighbor{{Address: "x", ASN: 1}} }, "neighbors[0].address"},
		{"static neighbor asn", func(c *Config) { c.Neighbors = []Neighbor{{Address: "10.0.0.2"}} }, "neighbors[0].asn"},
		{"hold time", func(c *Config) { c.HoldTime = 2 * time.Second }, "hold-time"},
		{"fractional timer", func(c *Config) { c.ConnectRetry = 1500 * time.Millisecond }, "connect-retry"},
		{"keepalive", func(c *Config) { c.Keepalive = 30 * time.Second }, "keepalive"},
		{"api address", func(c *Config) { c.APIAddress = "50051" }, "api-address"},
	}
	for _, tc := range cases {
		c := good
		c.NeighborPrefixes = append([]string(nil), good.NeighborPrefixes...)
		tc.mod(&c)
		err := c.Validate()
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != tc.field || ce.Fix == "" {
			t.Errorf("%s: got %v, want a ConfigError for %s with a fix", tc.name, err, tc.field)
		}
		// New refuses it before anything starts.
		if _, err := New(c); err == nil {
			t.Errorf("%s: New accepted the config", tc.name)
		}
	}
}

func TestStartRefusesTakenPorts(t *testing.T) {
	_, rc := startRouter(t, nil)
	// Same BGP address and port.
	r, err := New(Config{ASN: 1, RouterID: "127.0.0.2", ListenAddresses: rc.ListenAddresses, ListenPort: rc.ListenPort})
	if err != nil {
		t.Fatal(err)
	}
	err = r.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "listen-port") || !strings.Contains(err.Error(), "taken") {
		t.Fatalf("want a listen-port taken error, got %v", err)
	}
	// An address that is not on this host.
	r, _ = New(Config{ASN: 1, RouterID: "127.0.0.2", ListenAddresses: []string{"192.0.2.77"}, ListenPort: int32(freePort(t))})
	err = r.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "listen-address") {
		t.Fatalf("want a listen-address error, got %v", err)
	}
}

// With an expected neighbor ASN, a node in the right prefix but the wrong
// AS never gets a session; the check says so.
func TestWrongNeighborASNRefused(t *testing.T) {
	r, rc := startRouter(t, nil) // expects AS 65001
	startSpeaker(t, rc, "127.0.0.21", func(c *Config) { c.ASN = 65999 })
	startSpeaker(t, rc, "127.0.0.22", nil)
	k := NewChecker(r.Client())
	k.Timeout = 10 * time.Second
	if err := k.PeerEstablished(context.Background(), Node{"good", "127.0.0.22"}); err != nil {
		t.Fatal(err)
	}
	k.Timeout = 3 * time.Second
	err := k.PeerEstablished(context.Background(), Node{"wrong-as", "127.0.0.21"})
	mustContain(t, err, "wrong-as", "127.0.0.21")
}

// The gRPC client sees the same peers and routes as the in-process one,
// and its watch reports a new route.
func TestGRPCClientMatchesInProcess(t *testing.T) {
	api := "127.0.0.1:" + strconv.Itoa(freePort(t))
	r, rc := startRouter(t, func(c *Config) { c.APIAddress = api })
	s := startSpeaker(t, rc, "127.0.0.31", nil)
	c, err := Dial(api)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	events, err := c.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Client().Advertise(ctx, "10.85.31.0/24", "127.0.0.31"); err != nil {
		t.Fatal(err)
	}
	var up, added bool
	for ev := range events {
		if ev.Type == EventPeer && ev.Peer.Address == "127.0.0.31" && ev.Peer.Established() {
			up = true
		}
		if ev.Type == EventRoute && ev.Route.Prefix == "10.85.31.0/24" && ev.Route.NextHop == "127.0.0.31" && !ev.Route.Withdrawn {
			added = true
		}
		if up && added {
			break
		}
	}
	if !up || !added {
		t.Fatalf("gRPC watch: peer up %v, route added %v", up, added)
	}
	remote, err := c.Routes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	local, err := r.Client().Routes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(remote) != 1 || len(local) != 1 || remote[0].String() != local[0].String() {
		t.Fatalf("routes over gRPC %v differ from in-process %v", remote, local)
	}
	if _, err := Dial("localhost"); err == nil || !strings.Contains(err.Error(), "api-address") {
		t.Fatalf("Dial without a port: %v, want an api-address error", err)
	}
}
