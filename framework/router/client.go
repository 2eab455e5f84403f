package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/anypb"
)

// Peer is a BGP neighbor as the router sees it.
type Peer struct {
	Address  string `json:"address"`
	ASN      uint32 `json:"asn"`
	State    string `json:"state"` // idle, connect, active, opensent, openconfirm, established
	RouterID string `json:"routerID,omitempty"`
	// Dynamic is true for a neighbor accepted from a neighbor prefix.
	Dynamic bool `json:"dynamic,omitempty"`
	// Received is the number of prefixes received from the peer.
	Received uint64 `json:"received"`
	// Up is when the current session was established (zero when not).
	Up time.Time `json:"up,omitzero"`
	// EndOfRIB is true once the peer sent its End-of-RIB on the current
	// session (graceful restart negotiated): it has sent all it will.
	EndOfRIB bool `json:"endOfRIB,omitempty"`
}

// Established reports whether the session is up.
func (p Peer) Established() bool { return p.State == "established" }

func (p Peer) String() string {
	return fmt.Sprintf("%s AS%d %s (%d prefixes)", p.Address, p.ASN, p.State, p.Received)
}

// Route is a path in the router's RIB.
type Route struct {
	Prefix      string   `json:"prefix"`
	NextHop     string   `json:"nextHop"`
	ASPath      []uint32 `json:"asPath,omitempty"`
	Communities []string `json:"communities,omitempty"` // "65000:100"
	// Peer is the neighbor the route was learned from; empty for a route
	// this router originates.
	Peer      string `json:"peer,omitempty"`
	Best      bool   `json:"best,omitempty"`
	Stale     bool   `json:"stale,omitempty"`
	Withdrawn bool   `json:"withdrawn,omitempty"` // only in events
	// Age is when the router received the path (GoBGP's path age). GoBGP
	// keeps the first age when a restarted peer sends the same path again.
	Age time.Time `json:"age,omitzero"`
}

func (r Route) String() string {
	s := r.Prefix + " via " + r.NextHop
	if r.Peer != "" {
		s += " from " + r.Peer
	}
	if r.Stale {
		s += " (stale)"
	}
	return s
}

// EventType tells a peer event from a route event.
type EventType int

const (
	EventPeer EventType = iota + 1
	EventRoute
	EventEndOfRIB // a peer's End-of-RIB marker (Route.Peer names the peer)
)

// Event is a peer state change, a best-path change, or (from
// watchReceived) an UPDATE or End-of-RIB as a peer sent it.
type Event struct {
	Type  EventType
	Peer  Peer  // EventPeer
	Route Route // EventRoute
}

// backend is what a Client needs from GoBGP: the in-process server or its
// gRPC API.
type backend interface {
	listPeers(ctx context.Context, fn func(*api.Peer)) error
	listPaths(ctx context.Context, fn func(*api.Destination)) error
	watch(ctx context.Context, req *api.WatchEventRequest, fn func(*api.WatchEventResponse)) error
	addPath(ctx context.Context, p *api.Path) error
	addPaths(ctx context.Context, ps []*api.Path) error
	deletePath(ctx context.Context, p *api.Path) error
	global(ctx context.Context) (*api.Global, error)
	close() error
}

// Client reads a router's peers and routes and watches its events, in
// process or over GoBGP's gRPC API (Dial).
type Client struct {
	b backend
	// ka is the keepalive log (WatchKeepalives), nil until started.
	kaMu sync.Mutex
	ka   *keepaliveLog
}

// Dial connects to a router's gRPC API ("host:port" or "unix:///path").
func Dial(address string) (*Client, error) {
	target := address
	if !strings.HasPrefix(address, "unix://") {
		if _, _, err := net.SplitHostPort(address); err != nil {
			return nil, &ConfigError{"api-address", address, "use host:port such as 127.0.0.1:50051, or unix:///path"}
		}
		target = "passthrough:///" + address
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("router: dial API %s: %w", address, err)
	}
	return &Client{b: grpcBackend{conn: conn, c: api.NewGobgpApiClient(conn)}}, nil
}

// Started reports whether BGP is running behind the API: GoBGP opens its
// API before BGP starts, and refuses paths until it has.
func (c *Client) Started(ctx context.Context) (bool, error) {
	g, err := c.b.global(ctx)
	if err != nil {
		return false, fmt.Errorf("router: read global config: %w", err)
	}
	return g != nil && g.Asn != 0, nil
}

// Close closes a dialed connection (no-op in process).
func (c *Client) Close() error {
	c.stopKeepalives()
	return c.b.close()
}

// Peers lists the router's neighbors, sorted by address.
func (c *Client) Peers(ctx context.Context) ([]Peer, error) {
	var out []Peer
	if err := c.b.listPeers(ctx, func(p *api.Peer) { out = append(out, peerFromAPI(p)) }); err != nil {
		return nil, fmt.Errorf("router: list peers: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out, nil
}

// Routes lists every IPv4 unicast path in the router's RIB (best and not),
// sorted by prefix then peer.
func (c *Client) Routes(ctx context.Context) ([]Route, error) {
	var out []Route
	var cerr error
	err := c.b.listPaths(ctx, func(d *api.Destination) {
		for _, p := range d.Paths {
			r, err := routeFromAPI(p)
			if err != nil {
				cerr = err
				continue
			}
			out = append(out, r)
		}
	})
	if err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("router: list routes: %w", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Prefix != out[j].Prefix {
			return out[i].Prefix < out[j].Prefix
		}
		return out[i].Peer < out[j].Peer
	})
	return out, nil
}

// Watch streams peer state changes and best-path changes until ctx ends,
// starting with the current best paths (GoBGP sends no initial peer
// states: read them with Peers after Watch returns). The channel closes
// when the watch ends.
func (c *Client) Watch(ctx context.Context) (<-chan Event, error) {
	ch := make(chan Event, 1024)
	err := registered(func(started func()) error {
		return c.watchRaw(ctx, func(ev Event) {
			select {
			case ch <- ev:
			case <-ctx.Done():
			}
		}, started)
	}, func() { close(ch) })
	if err != nil {
		return nil, err
	}
	return ch, nil
}

// Changes ticks on every change the router sees: a session's state, a
// best path, and what peers send (each UPDATE and End-of-RIB as received).
// A stale route sent again unchanged moves no best path, and an End-of-RIB
// neither a path nor a session, so a check judging either would not look
// again on Watch's events alone. Ticks coalesce (one pending is enough: a
// reader looks at the whole state); the channel closes when the watch ends.
func (c *Client) Changes(ctx context.Context) (<-chan struct{}, error) {
	req := &api.WatchEventRequest{
		Peer: &api.WatchEventRequest_Peer{},
		Table: &api.WatchEventRequest_Table{Filters: []*api.WatchEventRequest_Table_Filter{
			// The best paths' init dump is the first message over gRPC,
			// which marks the watch registered.
			{Type: api.WatchEventRequest_Table_Filter_BEST, Init: true},
			{Type: api.WatchEventRequest_Table_Filter_ADJIN},
			{Type: api.WatchEventRequest_Table_Filter_EOR},
		}},
	}
	ch := make(chan struct{}, 1)
	err := registered(func(started func()) error {
		return c.b.watch(ctx, req, func(r *api.WatchEventResponse) {
			if r == nil {
				started()
				return
			}
			select {
			case ch <- struct{}{}:
			default:
			}
		})
	}, func() { close(ch) })
	if err != nil {
		return nil, err
	}
	return ch, nil
}

// registered runs a watch in the background and returns once it is
// registered (it calls started), or with what ended it before that; done
// runs when the watch ends.
func registered(run func(started func()) error, done func()) error {
	ready := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		defer done()
		var once sync.Once
		errc <- run(func() { once.Do(func() { close(ready) }) })
	}()
	select {
	case <-ready:
		return nil
	case err := <-errc:
		if err == nil {
			err = errors.New("watch ended")
		}
		return fmt.Errorf("router: watch: %w", err)
	}
}

// watchRaw calls fn for every event; started is called once the watch is
// registered (before any event could be missed).
func (c *Client) watchRaw(ctx context.Context, fn func(Event), started func()) error {
	req := &api.WatchEventRequest{
		Peer: &api.WatchEventRequest_Peer{},
		Table: &api.WatchEventRequest_Table{Filters: []*api.WatchEventRequest_Table_Filter{
			{Type: api.WatchEventRequest_Table_Filter_BEST, Init: true},
		}},
	}
	return c.b.watch(ctx, req, func(r *api.WatchEventResponse) {
		if r == nil { // registration marker from the backends
			started()
			return
		}
		switch e := r.Event.(type) {
		case *api.WatchEventResponse_Peer:
			if e.Peer.Peer == nil {
				return
			}
			// GoBGP's start-up marker is a peer event with no neighbor
			// address ("<nil>"): no session, so no event for anyone.
			if p := peerFromAPI(e.Peer.Peer); p.Address != "" && p.Address != "<nil>" {
				fn(Event{Type: EventPeer, Peer: p})
			}
		case *api.WatchEventResponse_Table:
			for _, p := range e.Table.Paths {
				rt, err := routeFromAPI(p)
				if err != nil {
					continue
				}
				fn(Event{Type: EventRoute, Route: rt})
			}
		}
	})
}

// watchReceived calls fn for every prefix a peer announces or withdraws,
// as received (before policy, sent again or not), and for every End-of-RIB.
// watchRaw shows best-path changes only, so a route a restarted node sends
// again unchanged, or its End-of-RIB, never shows there.
func (c *Client) watchReceived(ctx context.Context, fn func(Event), started func()) error {
	req := &api.WatchEventRequest{
		Table: &api.WatchEventRequest_Table{Filters: []*api.WatchEventRequest_Table_Filter{
			{Type: api.WatchEventRequest_Table_Filter_ADJIN},
			{Type: api.WatchEventRequest_Table_Filter_EOR},
		}},
	}
	return c.b.watch(ctx, req, func(r *api.WatchEventResponse) {
		if r == nil {
			started()
			return
		}
		t, ok := r.Event.(*api.WatchEventResponse_Table)
		if !ok {
			return
		}
		for _, p := range t.Table.Paths {
			if p.Nlri == nil { // an End-of-RIB: a family, no prefix
				fn(Event{Type: EventEndOfRIB, Route: Route{Peer: p.NeighborIp}})
				continue
			}
			if rt, err := routeFromAPI(p); err == nil {
				fn(Event{Type: EventRoute, Route: rt})
			}
		}
	})
}

// Advertise originates a route from this router (a speaker's pod CIDR or
// service address) with the given next hop and communities ("65000:100").
func (c *Client) Advertise(ctx context.Context, prefix, nextHop string, communities ...string) error {
	p, err := newPath(prefix, nextHop, communities, false)
	if err != nil {
		return err
	}
	if err := c.b.addPath(ctx, p); err != nil {
		return fmt.Errorf("router: advertise %s: %w", prefix, err)
	}
	return nil
}

// AdvertiseMany originates many routes with one next hop in one batch
// (one gRPC stream), for large route sets.
func (c *Client) AdvertiseMany(ctx context.Context, prefixes []string, nextHop string) error {
	ps := make([]*api.Path, 0, len(prefixes))
	for _, p := range prefixes {
		path, err := newPath(p, nextHop, nil, false)
		if err != nil {
			return err
		}
		ps = append(ps, path)
	}
	if err := c.b.addPaths(ctx, ps); err != nil {
		return fmt.Errorf("router: advertise %d routes: %w", len(ps), err)
	}
	return nil
}

// Withdraw withdraws a route this router originated.
func (c *Client) Withdraw(ctx context.Context, prefix, nextHop string) error {
	p, err := newPath(prefix, nextHop, nil, true)
	if err != nil {
		return err
	}
	if err := c.b.deletePath(ctx, p); err != nil {
		return fmt.Errorf("router: withdraw %s: %w", prefix, err)
	}
	return nil
}

func newPath(prefix, nextHop string, communities []string, withdraw bool) (*api.Path, error) {
	ip, ipnet, err := net.ParseCIDR(prefix)
	if err != nil || ip.To4() == nil {
		return nil, &ConfigError{"prefix", prefix, "use an IPv4 CIDR such as 10.85.1.0/24"}
	}
	if nh := net.ParseIP(nextHop); nh == nil || nh.To4() == nil {
		return nil, &ConfigError{"next-hop", nextHop, "use an IPv4 address"}
	}
	ones, _ := ipnet.Mask.Size()
	nlri, _ := anypb.New(&api.IPAddressPrefix{Prefix: ipnet.IP.String(), PrefixLen: uint32(ones)})
	origin, _ := anypb.New(&api.OriginAttribute{Origin: 0})
	nh, _ := anypb.New(&api.NextHopAttribute{NextHop: nextHop})
	attrs := []*anypb.Any{origin, nh}
	if len(communities) > 0 {
		var cs []uint32
		for _, s := range communities {
			var hi, lo uint32
			if _, err := fmt.Sscanf(s, "%d:%d", &hi, &lo); err != nil || hi > 0xffff || lo > 0xffff {
				return nil, &ConfigError{"community", s, "use ASN:value such as 65000:100"}
			}
			cs = append(cs, hi<<16|lo)
		}
		c, _ := anypb.New(&api.CommunitiesAttribute{Communities: cs})
		attrs = append(attrs, c)
	}
	return &api.Path{Family: ipv4Unicast, Nlri: nlri, Pattrs: attrs, IsWithdraw: withdraw}, nil
}

func peerFromAPI(p *api.Peer) Peer {
	out := Peer{}
	if p.Conf != nil {
		out.Address = p.Conf.NeighborAddress
		out.ASN = p.Conf.PeerAsn
		out.Dynamic = p.Conf.PeerGroup != "" && p.Conf.PeerGroup == nodesPeerGroup
	}
	if s := p.State; s != nil {
		if s.NeighborAddress != "" {
			out.Address = s.NeighborAddress
		}
		if s.PeerAsn != 0 {
			out.ASN = s.PeerAsn
		}
		out.RouterID = s.RouterId
		out.State = strings.ToLower(strings.TrimPrefix(s.SessionState.String(), "PeerState_"))
		if s.PeerGroup == nodesPeerGroup {
			out.Dynamic = true
		}
	}
	if t := p.GetTimers().GetState().GetUptime(); t != nil && (t.Seconds != 0 || t.Nanos != 0) && out.Established() {
		out.Up = t.AsTime()
	}
	for _, a := range p.AfiSafis {
		if a.State != nil {
			out.Received += a.State.Received
		}
		if a.GetMpGracefulRestart().GetState().GetEndOfRibReceived() {
			out.EndOfRIB = true
		}
	}
	return out
}

func routeFromAPI(p *api.Path) (Route, error) {
	var r Route
	pfx := &api.IPAddressPrefix{}
	if err := p.Nlri.UnmarshalTo(pfx); err != nil {
		return r, fmt.Errorf("not an IP prefix: %w", err)
	}
	r.Prefix = fmt.Sprintf("%s/%d", pfx.Prefix, pfx.PrefixLen)
	r.Best, r.Stale, r.Withdrawn = p.Best, p.Stale, p.IsWithdraw
	if a := p.GetAge(); a != nil && (a.Seconds != 0 || a.Nanos != 0) {
		r.Age = a.AsTime()
	}
	if p.NeighborIp != "" && p.NeighborIp != "<nil>" && !net.ParseIP(p.NeighborIp).IsUnspecified() {
		r.Peer = p.NeighborIp
	}
	for _, a := range p.Pattrs {
		m, err := a.UnmarshalNew()
		if err != nil {
			continue
		}
		switch v := m.(type) {
		case *api.NextHopAttribute:
			r.NextHop = v.NextHop
		case *api.MpReachNLRIAttribute:
			if len(v.NextHops) > 0 && r.NextHop == "" {
				r.NextHop = v.NextHops[0]
			}
		case *api.AsPathAttribute:
			for _, s := range v.Segments {
				r.ASPath = append(r.ASPath, s.Numbers...)
			}
		case *api.CommunitiesAttribute:
			for _, c := range v.Communities {
				r.Communities = append(r.Communities, fmt.Sprintf("%d:%d", c>>16, c&0xffff))
			}
		}
	}
	return r, nil
}

// localBackend is the in-process GoBGP server.
type localBackend struct{ s *server.BgpServer }

func (l localBackend) listPeers(ctx context.Context, fn func(*api.Peer)) error {
	return l.s.ListPeer(ctx, &api.ListPeerRequest{EnableAdvertised: false}, fn)
}

func (l localBackend) listPaths(ctx context.Context, fn func(*api.Destination)) error {
	return l.s.ListPath(ctx, &api.ListPathRequest{TableType: api.TableType_GLOBAL, Family: ipv4Unicast}, fn)
}

func (l localBackend) watch(ctx context.Context, req *api.WatchEventRequest, fn func(*api.WatchEventResponse)) error {
	// The init dump is delivered from inside WatchEvent, so mark the
	// watch registered only after it returns; events queue meanwhile.
	ch := make(chan *api.WatchEventResponse, 1024)
	if err := l.s.WatchEvent(ctx, req, func(r *api.WatchEventResponse) {
		select {
		case ch <- r:
		case <-ctx.Done():
		}
	}); err != nil {
		return err
	}
	fn(nil)
	for {
		select {
		case <-ctx.Done():
			return nil
		case r := <-ch:
			fn(r)
		}
	}
}

func (l localBackend) addPath(ctx context.Context, p *api.Path) error {
	_, err := l.s.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: p})
	return err
}

func (l localBackend) addPaths(ctx context.Context, ps []*api.Path) error {
	for _, p := range ps {
		if err := l.addPath(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

func (l localBackend) deletePath(ctx context.Context, p *api.Path) error {
	return l.s.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Family: ipv4Unicast, Path: p})
}

func (l localBackend) global(ctx context.Context) (*api.Global, error) {
	r, err := l.s.GetBgp(ctx, &api.GetBgpRequest{})
	if err != nil {
		return nil, err
	}
	return r.Global, nil
}

func (localBackend) close() error { return nil }

// grpcBackend is GoBGP's gRPC API.
type grpcBackend struct {
	conn *grpc.ClientConn
	c    api.GobgpApiClient
}

// recvAll hands every message of a gRPC stream to fn until the stream ends.
func recvAll[T any](recv func() (T, error), fn func(T)) error {
	for {
		m, err := recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		fn(m)
	}
}

func (g grpcBackend) listPeers(ctx context.Context, fn func(*api.Peer)) error {
	st, err := g.c.ListPeer(ctx, &api.ListPeerRequest{})
	if err != nil {
		return err
	}
	return recvAll(st.Recv, func(r *api.ListPeerResponse) { fn(r.Peer) })
}

func (g grpcBackend) listPaths(ctx context.Context, fn func(*api.Destination)) error {
	st, err := g.c.ListPath(ctx, &api.ListPathRequest{TableType: api.TableType_GLOBAL, Family: ipv4Unicast})
	if err != nil {
		return err
	}
	return recvAll(st.Recv, func(r *api.ListPathResponse) { fn(r.Destination) })
}

func (g grpcBackend) watch(ctx context.Context, req *api.WatchEventRequest, fn func(*api.WatchEventResponse)) error {
	st, err := g.c.WatchEvent(ctx, req)
	if err != nil {
		return err
	}
	// The server registers the watch, then sends the current best paths
	// (possibly none) at once: the first message marks registration.
	first, err := st.Recv()
	if err != nil {
		return err
	}
	fn(nil)
	fn(first)
	for {
		r, err := st.Recv()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		fn(r)
	}
}

func (g grpcBackend) addPath(ctx context.Context, p *api.Path) error {
	_, err := g.c.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: p})
	return err
}

func (g grpcBackend) addPaths(ctx context.Context, ps []*api.Path) error {
	st, err := g.c.AddPathStream(ctx)
	if err != nil {
		return err
	}
	const batch = 500
	for i := 0; i < len(ps); i += batch {
		end := min(i+batch, len(ps))
		if err := st.Send(&api.AddPathStreamRequest{TableType: api.TableType_GLOBAL, Paths: ps[i:end]}); err != nil {
			return err
		}
	}
	_, err = st.CloseAndRecv()
	return err
}

func (g grpcBackend) deletePath(ctx context.Context, p *api.Path) error {
	_, err := g.c.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Family: ipv4Unicast, Path: p})
	return err
}

func (g grpcBackend) global(ctx context.Context) (*api.Global, error) {
	r, err := g.c.GetBgp(ctx, &api.GetBgpRequest{})
	if err != nil {
		return nil, err
	}
	return r.Global, nil
}

func (g grpcBackend) close() error { return g.conn.Close() }
