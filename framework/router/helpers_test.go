package router

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

const (
	routerASN = 64512
	nodeASN   = 65001
)

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startRouter runs a router in-process on loopback, accepting dynamic
// neighbors from 127.0.0.0/26.
func startRouter(t testing.TB, mod func(*Config)) (*Router, Config) {
	t.Helper()
	cfg := Config{
		ASN:              routerASN,
		RouterID:         "127.0.0.1",
		ListenAddresses:  []string{"127.0.0.1"},
		ListenPort:       int32(freePort(t)),
		NeighborPrefixes: []string{"127.0.0.0/26"},
		NeighborASN:      nodeASN,
		HoldTime:         9 * time.Second,
		Keepalive:        3 * time.Second,
		ConnectRetry:     1 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	r, err := New(cfg, WithLogf(prefixLogf(t, "router")))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop() })
	return r, r.Config()
}

// startSpeaker runs an in-process GoBGP speaker (a "node") dialing the
// router from addr.
func startSpeaker(t testing.TB, rc Config, addr string, mod func(*Config)) *Router {
	t.Helper()
	cfg := Config{
		ASN:          nodeASN,
		RouterID:     addr,
		ListenPort:   -1,
		Neighbors:    []Neighbor{{Address: rc.ListenAddresses[0], ASN: rc.ASN, Port: uint32(rc.ListenPort), LocalAddress: addr}},
		HoldTime:     9 * time.Second,
		Keepalive:    3 * time.Second,
		ConnectRetry: 1 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg, WithLogf(prefixLogf(t, "speaker "+addr)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	return s
}

func prefixLogf(t testing.TB, who string) func(string, ...any) {
	return func(f string, a ...any) {
		if testing.Verbose() {
			t.Logf(who+": "+f, a...)
		}
	}
}

func mustContain(t testing.TB, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("check passed, want a failure mentioning %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("failure message lacks %q:\n%v", p, err)
		}
	}
}
