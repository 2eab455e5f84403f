package router

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"

	"github.com/hybridcni/hybridcni/framework/lab"
)

// nodesPeerGroup is the peer group dynamic neighbors join.
const nodesPeerGroup = "hybrid-nodes"

// ProtoBGP is the kernel route protocol the router installs routes with
// (RTPROT_BGP, shown as "proto bgp" by `ip route`).
const ProtoBGP = 186

// Router is a running GoBGP server.
type Router struct {
	cfg       Config
	logf      func(string, ...any)
	kernel    *lab.NS
	ownKernel bool // opened by Start, closed by Stop

	s      *server.BgpServer
	client *Client
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	installed map[string]string // prefix -> next hop, in the kernel
	stopped   bool
}

// Option configures a Router.
type Option func(*Router)

// WithLogf sends the router's event lines (peer up/down, route
// add/withdraw, kernel installs) to logf.
func WithLogf(logf func(format string, args ...any)) Option {
	return func(r *Router) { r.logf = logf }
}

// WithKernel installs routes into the given namespace instead of the
// process's own (used when the router runs in-process for a lab namespace).
func WithKernel(ns *lab.NS) Option {
	return func(r *Router) { r.kernel = ns }
}

// New validates cfg and returns a router that is not started yet.
func New(cfg Config, opts ...Option) (*Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Router{cfg: cfg.withDefaults(), logf: func(string, ...any) {}, installed: map[string]string{}}
	for _, o := range opts {
		o(r)
	}
	return r, nil
}

// Config returns the router's configuration with defaults filled in.
func (r *Router) Config() Config { return r.cfg }

// Start checks the ports are free, starts GoBGP, configures the neighbors
// and, when asked, the kernel route installer. On error nothing is left
// running.
func (r *Router) Start(ctx context.Context) (err error) {
	c := r.cfg
	if err := r.checkPorts(); err != nil {
		return err
	}
	if c.InstallRoutes && r.kernel == nil {
		if r.kernel, err = lab.Current(); err != nil {
			return fmt.Errorf("router: open own network namespace for route install: %w", err)
		}
		r.ownKernel = true
	}
	sopts := []server.ServerOption{server.LoggerOption(newLogger(r.logf))}
	if c.APIAddress != "" {
		sopts = append(sopts, server.GrpcListenAddress(c.APIAddress))
	}
	r.s = server.NewBgpServer(sopts...)
	go r.s.Serve()
	r.client = &Client{b: localBackend{r.s}}
	defer func() {
		if err != nil {
			r.s.Stop()
		}
	}()

	listen := c.ListenAddresses
	if c.ListenPort == -1 {
		listen = nil
	}
	if err := r.s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn:             c.ASN,
		RouterId:        c.RouterID,
		ListenPort:      c.ListenPort,
		ListenAddresses: listen,
	}}); err != nil {
		return fmt.Errorf("router: start BGP: %w", err)
	}

	wctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	if err := r.watch(wctx); err != nil {
		cancel()
		return err
	}

	if len(c.NeighborPrefixes) > 0 {
		pg := &api.PeerGroup{
			Conf:            &api.PeerGroupConf{PeerGroupName: nodesPeerGroup, PeerAsn: c.NeighborASN},
			Timers:          r.timers(),
			GracefulRestart: r.gracefulRestart(),
			AfiSafis:        r.afiSafis(),
		}
		if err := r.s.AddPeerGroup(ctx, &api.AddPeerGroupRequest{PeerGroup: pg}); err != nil {
			cancel()
			return fmt.Errorf("router: add peer group: %w", err)
		}
		for _, p := range c.NeighborPrefixes {
			if err := r.s.AddDynamicNeighbor(ctx, &api.AddDynamicNeighborRequest{DynamicNeighbor: &api.DynamicNeighbor{Prefix: p, PeerGroup: nodesPeerGroup}}); err != nil {
				cancel()
				return fmt.Errorf("router: neighbor-prefix %s: %w", p, err)
			}
		}
	}
	for i, n := range c.Neighbors {
		p := &api.Peer{
			Conf:            &api.PeerConf{NeighborAddress: n.Address, PeerAsn: n.ASN},
			Timers:          r.timers(),
			GracefulRestart: r.gracefulRestart(),
			AfiSafis:        r.afiSafis(),
			Transport:       &api.Transport{PassiveMode: n.Passive, RemotePort: n.Port, LocalAddress: n.LocalAddress},
		}
		if err := r.s.AddPeer(ctx, &api.AddPeerRequest{Peer: p}); err != nil {
			cancel()
			return fmt.Errorf("router: neighbors[%d] %s: %w", i, n.Address, err)
		}
	}
	r.logf("router: AS %d id %s listening on %s port %d; neighbor prefixes %v; api %q; install routes %v",
		c.ASN, c.RouterID, strings.Join(listen, ","), c.ListenPort, c.NeighborPrefixes, c.APIAddress, c.InstallRoutes)
	return nil
}

func (r *Router) checkPorts() error {
	c := r.cfg
	if c.ListenPort > 0 {
		for _, a := range c.ListenAddresses {
			addr := net.JoinHostPort(a, fmt.Sprint(c.ListenPort))
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return portError("listen-port", addr, err)
			}
			l.Close()
		}
	}
	for _, a := range apiHosts(c.APIAddress) {
		if strings.HasPrefix(a, "unix://") {
			continue
		}
		l, err := net.Listen("tcp", a)
		if err != nil {
			return portError("api-address", a, err)
		}
		l.Close()
	}
	return nil
}

func portError(field, addr string, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return &ConfigError{field, addr, "the port is taken by another process; stop it or choose another port"}
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		if field == "listen-port" {
			field = "listen-address"
		}
		return &ConfigError{field, addr, "the address is not on this host; use one of its addresses"}
	case errors.Is(err, syscall.EACCES):
		return &ConfigError{field, addr, "ports below 1024 need root or CAP_NET_BIND_SERVICE"}
	}
	return &ConfigError{field, addr, err.Error()}
}

func (r *Router) timers() *api.Timers {
	return &api.Timers{Config: &api.TimersConfig{
		ConnectRetry:      uint64(r.cfg.ConnectRetry.Seconds()),
		HoldTime:          uint64(r.cfg.HoldTime.Seconds()),
		KeepaliveInterval: uint64(r.cfg.Keepalive.Seconds()),
		// Advertise at once: the doc's routes should not wait 30 s (eBGP default).
		MinimumAdvertisementInterval: 1,
	}}
}

func (r *Router) gracefulRestart() *api.GracefulRestart {
	if !r.cfg.GracefulRestart {
		return nil
	}
	return &api.GracefulRestart{Enabled: true, RestartTime: uint32(r.cfg.RestartTime.Seconds())}
}

var ipv4Unicast = &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}

func (r *Router) afiSafis() []*api.AfiSafi {
	a := &api.AfiSafi{Config: &api.AfiSafiConfig{Family: ipv4Unicast, Enabled: true}}
	if r.cfg.GracefulRestart {
		a.MpGracefulRestart = &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}}
	}
	if r.cfg.MaxPrefixes > 0 {
		a.PrefixLimits = &api.PrefixLimit{Family: ipv4Unicast, MaxPrefixes: r.cfg.MaxPrefixes}
	}
	return []*api.AfiSafi{a}
}

// Client returns an in-process client for this router (no gRPC).
func (r *Router) Client() *Client { return r.client }

// watch logs peer and route events and keeps the kernel table in step
// with the best paths learned from peers.
func (r *Router) watch(ctx context.Context) error {
	ready := make(chan struct{})
	var once sync.Once
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		err := r.client.watchRaw(ctx, func(ev Event) {
			once.Do(func() { close(ready) })
			r.handle(ev)
		}, func() { once.Do(func() { close(ready) }) })
		if err != nil && ctx.Err() == nil {
			r.logf("router: event watch ended: %v", err)
		}
	}()
	<-ready
	// What each peer sends, as sent: a graceful restart that leaves routes
	// stale reads in this log as "no update and no End-of-RIB from the node".
	received := make(chan struct{})
	var rOnce sync.Once
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		err := r.client.watchReceived(ctx, r.logReceived, func() { rOnce.Do(func() { close(received) }) })
		rOnce.Do(func() { close(received) })
		if err != nil && ctx.Err() == nil {
			r.logf("router: received-update watch ended: %v", err)
		}
	}()
	<-received
	return nil
}

// logReceived logs one UPDATE prefix or End-of-RIB as a peer sent it.
func (r *Router) logReceived(ev Event) {
	rt := ev.Route
	switch {
	case ev.Type == EventEndOfRIB:
		r.logf("router: received end-of-rib from %s", rt.Peer)
	case rt.Withdrawn:
		r.logf("router: received withdraw %s from %s", rt.Prefix, rt.Peer)
	default:
		r.logf("router: received %s via %s from %s", rt.Prefix, rt.NextHop, rt.Peer)
	}
}

func (r *Router) handle(ev Event) {
	switch ev.Type {
	case EventPeer:
		r.logf("router: peer %s AS %d %s", ev.Peer.Address, ev.Peer.ASN, ev.Peer.State)
	case EventRoute:
		rt := ev.Route
		from := rt.Peer
		if from == "" {
			from = "local"
		}
		if rt.Withdrawn {
			r.logf("router: route withdraw %s from %s", rt.Prefix, from)
		} else {
			r.logf("router: route add %s via %s from %s as-path %v", rt.Prefix, rt.NextHop, from, rt.ASPath)
		}
		if r.cfg.InstallRoutes && rt.Peer != "" {
			r.install(rt)
		}
	}
}

func (r *Router) install(rt Route) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	if rt.Withdrawn {
		if _, ok := r.installed[rt.Prefix]; !ok {
			return
		}
		if err := r.kernel.DeleteRoute(lab.Route{Dst: rt.Prefix, Protocol: ProtoBGP}); err != nil {
			r.logf("router: kernel: %v", err)
			return
		}
		delete(r.installed, rt.Prefix)
		r.logf("router: kernel: deleted %s", rt.Prefix)
		return
	}
	if err := r.kernel.ReplaceRoute(lab.Route{Dst: rt.Prefix, Gw: rt.NextHop, Protocol: ProtoBGP}); err != nil {
		r.logf("router: kernel: %v", err)
		return
	}
	r.installed[rt.Prefix] = rt.NextHop
	r.logf("router: kernel: installed %s via %s", rt.Prefix, rt.NextHop)
}

// Installed returns the routes the router has put into the kernel.
func (r *Router) Installed() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]string, len(r.installed))
	for k, v := range r.installed {
		out[k] = v
	}
	return out
}

// Stop closes every session (Cease), stops GoBGP and removes the routes
// it installed from the kernel. Safe to call twice.
func (r *Router) Stop() error {
	r.mu.Lock()
	if r.stopped || r.s == nil {
		r.mu.Unlock()
		return nil
	}
	r.stopped = true
	r.mu.Unlock()
	r.cancel()
	r.s.Stop()
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	n := len(r.installed)
	for p := range r.installed {
		if err := r.kernel.DeleteRoute(lab.Route{Dst: p, Protocol: ProtoBGP}); err != nil {
			errs = append(errs, err)
		}
		delete(r.installed, p)
	}
	if r.cfg.InstallRoutes {
		r.logf("router: kernel: removed %d installed routes", n)
	}
	if r.ownKernel {
		_ = r.kernel.Close()
	}
	r.logf("router: stopped")
	return errors.Join(errs...)
}
