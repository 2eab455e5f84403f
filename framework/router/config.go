// Package router is the "on-prem" BGP router the suites peer with: a GoBGP
// v3 server run in-process that accepts hybrid nodes as dynamic neighbors,
// installs their pod CIDRs into the kernel, and exposes GoBGP's gRPC API.
// It also holds the harness's client and the BGP checks. GoBGP is used only
// inside this package.
package router

import (
	"fmt"
	"net"
	"strings"
	"time"
)

// Defaults follow the hybrid-nodes doc's timers; connect-retry is short
// (GoBGP's 120 s default makes a late peer take minutes).
const (
	DefaultListenPort   = 179
	DefaultAPIAddress   = "127.0.0.1:50051"
	DefaultHoldTime     = 30 * time.Second
	DefaultKeepalive    = 10 * time.Second
	DefaultConnectRetry = 5 * time.Second
	DefaultRestartTime  = 120 * time.Second
)

// Config is the router's configuration. Zero values take the defaults.
type Config struct {
	// ASN is the router's own AS number (required).
	ASN uint32 `json:"asn"`
	// RouterID is the BGP identifier, an IPv4 address (required).
	RouterID string `json:"routerID"`
	// ListenAddresses to accept BGP on; default all ("0.0.0.0").
	ListenAddresses []string `json:"listenAddresses,omitempty"`
	// ListenPort is the BGP port: 0 means 179, -1 means do not listen
	// (a speaker that only dials out).
	ListenPort int32 `json:"listenPort,omitempty"`
	// NeighborPrefixes are CIDRs hybrid nodes may peer from (dynamic
	// neighbors). Peers from elsewhere are refused.
	NeighborPrefixes []string `json:"neighborPrefixes,omitempty"`
	// NeighborASN is the AS dynamic neighbors must use; 0 accepts any.
	NeighborASN uint32 `json:"neighborASN,omitempty"`
	// Neighbors are optional static neighbors.
	Neighbors []Neighbor `json:"neighbors,omitempty"`
	// HoldTime, Keepalive and ConnectRetry are the BGP timers.
	HoldTime     time.Duration `json:"holdTime,omitempty"`
	Keepalive    time.Duration `json:"keepalive,omitempty"`
	ConnectRetry time.Duration `json:"connectRetry,omitempty"`
	// GracefulRestart turns on graceful restart: the router keeps a
	// restarting peer's routes for the peer's restart time (helper mode) and
	// advertises RestartTime for itself.
	GracefulRestart bool          `json:"gracefulRestart,omitempty"`
	RestartTime     time.Duration `json:"restartTime,omitempty"`
	// MaxPrefixes is the per-peer limit on received prefixes (0: none);
	// a peer that sends more is shut down.
	MaxPrefixes uint32 `json:"maxPrefixes,omitempty"`
	// APIAddress serves GoBGP's gRPC API ("host:port" or "unix:///path",
	// several comma-separated); empty: no API.
	APIAddress string `json:"apiAddress,omitempty"`
	// InstallRoutes installs every best path learned from a peer into the
	// kernel routing table of the router's network namespace.
	InstallRoutes bool `json:"installRoutes,omitempty"`
}

// Neighbor is a static BGP neighbor.
type Neighbor struct {
	Address string `json:"address"`
	ASN     uint32 `json:"asn"`
	// Port is the neighbor's BGP port (default 179).
	Port uint32 `json:"port,omitempty"`
	// LocalAddress is the source address to dial from.
	LocalAddress string `json:"localAddress,omitempty"`
	// Passive waits for the neighbor to connect instead of dialing.
	Passive bool `json:"passive,omitempty"`
}

// ConfigError is bad router configuration: the field and how to fix it.
type ConfigError struct {
	Field string
	Value any
	Fix   string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("router: %s=%v: %s", e.Field, e.Value, e.Fix)
}

func (c Config) withDefaults() Config {
	if len(c.ListenAddresses) == 0 {
		c.ListenAddresses = []string{"0.0.0.0"}
	}
	if c.ListenPort == 0 {
		c.ListenPort = DefaultListenPort
	}
	if c.HoldTime == 0 {
		c.HoldTime = DefaultHoldTime
	}
	if c.Keepalive == 0 {
		c.Keepalive = DefaultKeepalive
	}
	if c.ConnectRetry == 0 {
		c.ConnectRetry = DefaultConnectRetry
	}
	if c.RestartTime == 0 {
		c.RestartTime = DefaultRestartTime
	}
	return c
}

// Validate checks the configuration (after defaults) and names the first
// bad field and the fix.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.ASN == 0 {
		return &ConfigError{"asn", c.ASN, "set the router's AS number (1-4294967295), e.g. 65000"}
	}
	if ip := net.ParseIP(c.RouterID); ip == nil || ip.To4() == nil {
		return &ConfigError{"router-id", c.RouterID, "set an IPv4 address as the router id, e.g. 10.0.0.1"}
	}
	for _, a := range c.ListenAddresses {
		if net.ParseIP(a) == nil {
			return &ConfigError{"listen-address", a, "use an IP address of this host (or 0.0.0.0)"}
		}
	}
	if c.ListenPort < -1 || c.ListenPort > 65535 {
		return &ConfigError{"listen-port", c.ListenPort, "use 1-65535 (or -1 to not listen)"}
	}
	for _, p := range c.NeighborPrefixes {
		if _, _, err := net.ParseCIDR(p); err != nil {
			return &ConfigError{"neighbor-prefix", p, "use a CIDR such as 10.80.0.0/16 covering the nodes' addresses"}
		}
	}
	if len(c.NeighborPrefixes) > 0 && c.ListenPort == -1 {
		return &ConfigError{"listen-port", c.ListenPort, "dynamic neighbors need a listening port; drop -1"}
	}
	for i, n := range c.Neighbors {
		f := fmt.Sprintf("neighbors[%d]", i)
		if net.ParseIP(n.Address) == nil {
			return &ConfigError{f + ".address", n.Address, "use the neighbor's IP address"}
		}
		if n.ASN == 0 {
			return &ConfigError{f + ".asn", n.ASN, "set the neighbor's AS number"}
		}
		if n.LocalAddress != "" && net.ParseIP(n.LocalAddress) == nil {
			return &ConfigError{f + ".localAddress", n.LocalAddress, "use an IP address of this host"}
		}
	}
	for _, d := range []struct {
		f string
		v time.Duration
	}{{"hold-time", c.HoldTime}, {"keepalive", c.Keepalive}, {"connect-retry", c.ConnectRetry}, {"restart-time", c.RestartTime}} {
		if d.v < time.Second || d.v%time.Second != 0 {
			return &ConfigError{d.f, d.v, "use whole seconds, at least 1s"}
		}
	}
	if c.HoldTime < 3*time.Second {
		return &ConfigError{"hold-time", c.HoldTime, "BGP needs a hold time of at least 3s"}
	}
	if c.Keepalive >= c.HoldTime {
		return &ConfigError{"keepalive", c.Keepalive, fmt.Sprintf("must be less than hold-time (%s), usually a third of it", c.HoldTime)}
	}
	for _, a := range apiHosts(c.APIAddress) {
		if strings.HasPrefix(a, "unix://") {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			return &ConfigError{"api-address", a, "use host:port such as 127.0.0.1:50051, or unix:///path (several: comma-separated)"}
		}
	}
	return nil
}

func apiHosts(s string) []string {
	var out []string
	for _, h := range strings.Split(s, ",") {
		if h = strings.TrimSpace(h); h != "" {
			out = append(out, h)
		}
	}
	return out
}
