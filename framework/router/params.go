package router

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	api "github.com/osrg/gobgp/v3/api"
)

// PeerParams are the BGP session parameters a node must show on the wire,
// as the router's neighbor state has them. Zero fields are not checked.
type PeerParams struct {
	// ASN is the node's AS number (the AS in its OPEN).
	ASN uint32
	// HoldTime is the negotiated hold time. It is the smaller of the
	// router's and the node's, so it shows the node's only while the
	// router's own hold time is larger: PeerParameters refuses to pass a
	// hold time it cannot tell apart (see there).
	HoldTime time.Duration
	// Keepalive is the interval of the node's KEEPALIVE messages. BGP does
	// not carry it in the OPEN (each side derives its own), so it is
	// measured: the gaps between the KEEPALIVEs the router receives must be
	// within a quarter of it. That takes up to three intervals.
	Keepalive time.Duration
	// GracefulRestart: the node announces the graceful-restart capability
	// in its OPEN, with RestartTime (when set) as its restart time.
	GracefulRestart bool
	RestartTime     time.Duration
	// Families are the address families the node announces ("ipv4-unicast"),
	// exactly; an OPEN without multiprotocol capabilities announces
	// ipv4-unicast alone (RFC 4760).
	Families []string
}

// GuidePeerParams are the hybrid-nodes guide's session parameters for nodes
// of AS asn: hold time 30 s, keepalive 10 s, graceful restart with restart
// time 120 s, IPv4 unicast.
func GuidePeerParams(asn uint32) PeerParams {
	return PeerParams{ASN: asn, HoldTime: 30 * time.Second, Keepalive: 10 * time.Second,
		GracefulRestart: true, RestartTime: 120 * time.Second, Families: []string{"ipv4-unicast"}}
}

// keepaliveTolerance is how far a measured KEEPALIVE gap may be off.
const keepaliveTolerance = 0.25

// PeerParameters checks the session of node n against want, on the
// router's neighbor state: it waits (k.Timeout) for the session to be
// established, then compares the node's ASN, the negotiated hold time, the
// graceful-restart capability and the families of the node's OPEN, and,
// when want.Keepalive is set and the OPEN passes, measures the node's
// keepalive interval (up to three intervals more). Every mismatch is named with the node and the
// parameter: "node worker (10.80.0.3): hold time 90 s negotiated, want 30 s".
//
// A hold time can only be checked when the router's own is larger than the
// one wanted (the negotiated value is the smaller of the two): with the
// router at 30 s, a node announcing 90 s also negotiates 30 s, so that case
// is an error naming the router's hold time, not a pass. Configure the
// router with a larger hold time (e.g. 90 s) in runs that check it.
func (k *Checker) PeerParameters(ctx context.Context, n Node, want PeerParams) error {
	if err := k.PeerEstablished(ctx, n); err != nil {
		return err
	}
	p, err := k.rawPeer(ctx, n)
	if err != nil {
		return err
	}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{n}, args...)...))
	}
	got := peerParamsFromAPI(p)

	if want.ASN != 0 && got.ASN != want.ASN {
		bad("AS %d in its OPEN, want AS %d", got.ASN, want.ASN)
	}
	if want.HoldTime > 0 {
		own := time.Duration(p.GetTimers().GetConfig().GetHoldTime()) * time.Second
		switch {
		case got.HoldTime != want.HoldTime:
			bad("hold time %s negotiated, want %s", secs(got.HoldTime), secs(want.HoldTime))
		case own <= want.HoldTime:
			bad("hold time %s negotiated, but the router's own hold time is %s, so a node announcing more also negotiates %s: "+
				"configure the router with a hold time above %s to check it", secs(got.HoldTime), secs(own), secs(own), secs(want.HoldTime))
		}
	}
	if want.GracefulRestart {
		switch {
		case !got.GracefulRestart:
			bad("graceful restart not announced in its OPEN, want it with restart time %s", secs(want.RestartTime))
		case want.RestartTime > 0 && got.RestartTime != want.RestartTime:
			bad("graceful restart time %s announced in its OPEN, want %s", secs(got.RestartTime), secs(want.RestartTime))
		}
	}
	if want.Families != nil {
		w := append([]string(nil), want.Families...)
		sort.Strings(w)
		if strings.Join(got.Families, ",") != strings.Join(w, ",") {
			bad("address families %s announced in its OPEN, want %s", familyList(got.Families), familyList(w))
		}
	}
	switch {
	case want.Keepalive > 0 && len(errs) > 0:
		// The OPEN fails already: measuring would only make the failure
		// wait up to three intervals more (on a session just reset).
		bad("keepalive not measured (its OPEN fails the check already)")
	case want.Keepalive > 0:
		if err := k.measureKeepalive(ctx, n, want.Keepalive); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// PeerParamsOf returns what the router's neighbor state says of node n's
// session (ASN, negotiated hold time, graceful restart and families of its
// OPEN; Keepalive is the router's own negotiated sending interval, the
// node's is not in the state). The session must be up.
func (k *Checker) PeerParamsOf(ctx context.Context, n Node) (PeerParams, error) {
	p, err := k.rawPeer(ctx, n)
	if err != nil {
		return PeerParams{}, err
	}
	out := peerParamsFromAPI(p)
	out.Keepalive = time.Duration(p.GetTimers().GetState().GetKeepaliveInterval()) * time.Second
	return out, nil
}

// rawPeer is node n's neighbor entry, which must be established.
func (k *Checker) rawPeer(ctx context.Context, n Node) (*api.Peer, error) {
	var found *api.Peer
	if err := k.Client.b.listPeers(ctx, func(p *api.Peer) {
		if peerFromAPI(p).Address == n.Address {
			found = p
		}
	}); err != nil {
		return nil, fmt.Errorf("router: list peers: %w", err)
	}
	if found == nil {
		return nil, fmt.Errorf("%s: no BGP neighbor %s on the router", n, n.Address)
	}
	if st := peerFromAPI(found).State; st != "established" {
		return nil, fmt.Errorf("%s: session %s, not established: its parameters are not negotiated", n, st)
	}
	return found, nil
}

func peerParamsFromAPI(p *api.Peer) PeerParams {
	out := PeerParams{
		ASN:      p.GetState().GetPeerAsn(),
		HoldTime: time.Duration(p.GetTimers().GetState().GetNegotiatedHoldTime()) * time.Second,
	}
	fams := map[string]bool{}
	for _, c := range p.GetState().GetRemoteCap() {
		m, err := c.UnmarshalNew()
		if err != nil {
			continue
		}
		switch v := m.(type) {
		case *api.MultiProtocolCapability:
			fams[familyName(v.GetFamily())] = true
		case *api.GracefulRestartCapability:
			out.GracefulRestart = true
			out.RestartTime = time.Duration(v.GetTime()) * time.Second
		}
	}
	if len(fams) == 0 {
		fams["ipv4-unicast"] = true // RFC 4760: no MP capability is IPv4 unicast
	}
	for f := range fams {
		out.Families = append(out.Families, f)
	}
	sort.Strings(out.Families)
	return out
}

// familyName spells a family as GoBGP's CLI does ("ipv4-unicast").
func familyName(f *api.Family) string {
	if f == nil {
		return "unknown"
	}
	afi := map[api.Family_Afi]string{api.Family_AFI_IP: "ipv4", api.Family_AFI_IP6: "ipv6", api.Family_AFI_L2VPN: "l2vpn"}[f.GetAfi()]
	if afi == "" {
		afi = fmt.Sprintf("afi%d", f.GetAfi())
	}
	safi := map[api.Family_Safi]string{api.Family_SAFI_UNICAST: "unicast", api.Family_SAFI_MULTICAST: "multicast",
		api.Family_SAFI_MPLS_VPN: "l3vpn", api.Family_SAFI_EVPN: "evpn", api.Family_SAFI_FLOW_SPEC_UNICAST: "flowspec"}[f.GetSafi()]
	if safi == "" {
		safi = fmt.Sprintf("safi%d", f.GetSafi())
	}
	return afi + "-" + safi
}

func familyList(f []string) string {
	if len(f) == 0 {
		return "none"
	}
	return strings.Join(f, ", ")
}

// secs prints a whole-second duration as the guide writes it ("30 s").
func secs(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%d s", int64(d/time.Second))
	}
	return d.String()
}

// measureKeepalive measures node n's keepalive interval (gapJudge) on
// the router's neighbor state: first on what the keepalive log recorded of
// the node's current session over the last three intervals, then on new
// looks every 100 ms for what is still missing. Without a log (no
// WatchKeepalives) that takes up to three intervals.
func (k *Checker) measureKeepalive(ctx context.Context, n Node, want time.Duration) error {
	j := newGapJudge(n, want)
	window := 3*j.hi + time.Second
	ctx, cancel := context.WithTimeout(ctx, window)
	defer cancel()
	look := func() (kaSample, error) {
		p, err := k.rawPeer(ctx, n)
		if err != nil {
			return kaSample{}, err
		}
		r := p.GetState().GetMessages().GetReceived()
		return kaSample{at: time.Now(), session: peerFromAPI(p).Up, keepalive: r.GetKeepalive(), update: r.GetUpdate()}, nil
	}
	s, err := look()
	if err != nil {
		return err
	}
	done := func() error {
		if k.Progress != nil {
			fmt.Fprintf(k.Progress, "%s: keepalive gaps %s (%d seen before the check), want %s\n", n, durList(j.gaps), j.recorded, secs(want))
		}
		return nil
	}
	// The recorded looks of this session within the window, after the
	// last one before it (which only primes the judge).
	h := k.Client.keepalives().history(n.Address, s.session)
	from := 0
	for i, r := range h {
		if s.at.Sub(r.at) <= window {
			break
		}
		from = i
	}
	for _, r := range h[from:] {
		ok, err := j.look(r)
		j.recorded = len(j.gaps)
		if err != nil {
			return fmt.Errorf("%w (seen before the check on this session)", err)
		}
		if ok {
			return done()
		}
	}
	start := time.Now()
	tick := time.NewTicker(keepalivePoll)
	defer tick.Stop()
	last := s.at
	for {
		ok, err := j.look(s)
		if err != nil {
			return err
		}
		if ok {
			return done()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: keepalive: measured gaps %s in %s, want two of %s: %w",
				n, durList(j.gaps), time.Since(start).Round(time.Second), secs(want), ctx.Err())
		case <-tick.C:
		}
		if s, err = look(); err != nil {
			return fmt.Errorf("%s: keepalive: %w", n, err)
		}
		s.blind = s.at.Sub(last) > keepaliveBlind
		last = s.at
	}
}

func durList(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	var s []string
	for _, d := range ds {
		s = append(s, d.Round(100*time.Millisecond).String())
	}
	return strings.Join(s, ", ")
}

// PeerParametersAll runs PeerParameters for every node at once (the
// keepalive measurement takes up to three intervals per node) and joins
// their failures.
func (k *Checker) PeerParametersAll(ctx context.Context, nodes []Node, want PeerParams) error {
	errs := make([]error, len(nodes))
	done := make(chan struct{})
	for i, n := range nodes {
		go func() {
			defer func() { done <- struct{}{} }()
			errs[i] = k.PeerParameters(ctx, n, want)
		}()
	}
	for range nodes {
		<-done
	}
	return errors.Join(errs...)
}
