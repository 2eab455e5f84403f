package faults

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/router"
)

// ssBGP lists a node's established BGP connections (TCP 179 either way):
// Recv-Q, Send-Q, local address:port, peer address:port.
const ssBGP = "ss -Htn state established '( dport = :179 or sport = :179 )'"

// bgpPeersOn is the addresses a node has an established BGP session with,
// as its kernel sees them: the router's and, with a node-to-node mesh
// (kube-router), the other nodes'.
func bgpPeersOn(ctx context.Context, t Target, node string) ([]string, error) {
	out, err := t.Exec(ctx, node, "sh", "-c", ssBGP)
	if err != nil {
		return nil, fmt.Errorf("node %s: %s: %w: %s", node, ssBGP, err, out)
	}
	return parseSSPeers(out), nil
}

// ssConn is one TCP connection of ss's listing: its two ends as listed,
// and the peer's address.
type ssConn struct{ local, peer, addr string }

// parseSSConns reads ss output: per line, the last two address:port fields
// are the local and the peer end; IPv4-mapped addresses are unmapped.
func parseSSConns(out string) []ssConn {
	var conns []ssConn
	for _, line := range strings.Split(out, "\n") {
		var ends []string
		for _, x := range strings.Fields(line) {
			if strings.Contains(x, ":") {
				ends = append(ends, x)
			}
		}
		if len(ends) < 2 {
			continue
		}
		local, peer := ends[len(ends)-2], ends[len(ends)-1]
		i := strings.LastIndex(peer, ":")
		host := strings.Trim(peer[:i], "[]")
		if z := strings.IndexByte(host, '%'); z >= 0 {
			host = host[:z]
		}
		a, err := netip.ParseAddr(host)
		if err != nil {
			continue
		}
		conns = append(conns, ssConn{local: local, peer: peer, addr: a.Unmap().String()})
	}
	return conns
}

// parseSSPeers is the peer addresses of ss output, each once, sorted.
func parseSSPeers(out string) []string {
	var peers []string
	for _, c := range parseSSConns(out) {
		if !slices.Contains(peers, c.addr) {
			peers = append(peers, c.addr)
		}
	}
	slices.Sort(peers)
	return peers
}

// bgpSessions is each hybrid node's established BGP peers.
type bgpSessions map[string][]string

// sessionsNow reads every hybrid node's established BGP peers.
func sessionsNow(ctx context.Context, t Target) (bgpSessions, error) {
	s := bgpSessions{}
	for _, n := range t.HybridNodes() {
		p, err := bgpPeersOn(ctx, t, n.Name)
		if err != nil {
			return nil, err
		}
		s[n.Name] = p
	}
	return s, nil
}

// sessionsBack waits until every hybrid node has again each BGP session it
// had before the fault (before), and at least one. A heal that stops at the
// first session back (the router's) leaves a node-to-node mesh down: with
// kube-router the other nodes drop this node's block when their graceful
// restart timer runs out, and every cross-node path to it (pod to pod, pod
// to node, a Service's remote backend) fails until the mesh session is
// retried, which is what the next fault's checks then saw.
//
// ss sees TCP, not BGP: a connection that a collision or a refused OPEN
// closes is established for a moment. A session counts once the same
// connection (both ends) has been there on every poll for sessionLasts.
func sessionsBack(ctx context.Context, t Target, before bgpSessions) error {
	since := map[string]map[ssConn]time.Time{} // node -> connection -> first seen, on every poll since
	return poll(ctx, settle, "every hybrid node's BGP sessions of before the fault established again", func(ctx context.Context) (bool, error) {
		var missing []string
		for _, n := range t.HybridNodes() {
			out, err := t.Exec(ctx, n.Name, "sh", "-c", ssBGP)
			if err != nil {
				return false, fmt.Errorf("node %s: %s: %w: %s", n.Name, ssBGP, err, out)
			}
			now, first := time.Now(), map[ssConn]time.Time{}
			var lasting []string
			for _, c := range parseSSConns(out) {
				at, ok := since[n.Name][c]
				if !ok {
					at = now
				}
				first[c] = at
				if now.Sub(at) >= sessionLasts && !slices.Contains(lasting, c.addr) {
					lasting = append(lasting, c.addr)
				}
			}
			since[n.Name] = first
			if len(lasting) == 0 {
				missing = append(missing, fmt.Sprintf("node %s has no lasting BGP session", n.Name))
				continue
			}
			for _, p := range before[n.Name] {
				if !slices.Contains(lasting, p) {
					missing = append(missing, fmt.Sprintf("node %s has no lasting session with %s (it had one before the fault)", n.Name, p))
				}
			}
		}
		if len(missing) > 0 {
			return false, fmt.Errorf("%s", strings.Join(missing, "; "))
		}
		return true, nil
	})
}

// resetRules are iptables rules on a node that reset TCP 179 connections
// with peer (every BGP connection when peer is empty), both directions;
// extra (e.g. a conntrack state match) goes before the target. A reset
// itself passes: the one REJECT answers the node's own keepalive with
// comes back through INPUT, and dropping it there left the node's session
// up until its hold timer ran out (30 s on kind), where the reset ends it
// at its next keepalive.
func resetRules(node, peer string, extra ...string) []rule {
	var rules []rule
	for _, chain := range []string{"INPUT", "OUTPUT"} {
		for _, port := range []string{"--dport", "--sport"} {
			args := []string{"filter", chain, "-p", "tcp"}
			if peer != "" {
				dir := "-d"
				if chain == "INPUT" {
					dir = "-s"
				}
				args = append(args, dir, peer)
			}
			args = append(args, port, "179", "--tcp-flags", "RST", "NONE")
			args = append(args, extra...)
			rules = append(rules, rule{node, append(args, "-j", "REJECT", "--reject-with", "tcp-reset")})
		}
	}
	return rules
}

// restartRefusedAgents restarts the agent on each hybrid node still
// without a session with peer refusedGrace after a fault's rules are gone,
// as an operator would: an agent whose connection was refused or reset
// retries at its connect retry timer (Cilium's default 120 s), so the heals
// waited 98 s (bgp-session-reset) and 173 s (bgp-no-new-session) on kind.
//
// A CNI whose connect retry is known to outlast the grace gets no grace:
// its agents are restarted as soon as the check finds them down.
func restartRefusedAgents(ctx context.Context, t Target, peer string) error {
	var down []string
	grace := refusedGrace
	if t.Facts().BGPConnectRetry > refusedGrace {
		grace = 0
	}
	deadline := time.Now().Add(grace)
	for {
		down = nil
		for _, n := range t.HybridNodes() {
			peers, err := bgpPeersOn(ctx, t, n.Name)
			if err != nil {
				return err
			}
			if !slices.Contains(peers, peer) {
				down = append(down, n.Name)
			}
		}
		if len(down) == 0 || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollEvery):
		}
	}
	if len(down) == 0 {
		return nil
	}
	ds, err := agent(ctx, t)
	if err != nil {
		return fmt.Errorf("nodes %s have no session with %s %s after the fault, and their agent cannot be restarted: %w",
			strings.Join(down, ", "), peer, grace, err)
	}
	return restartAgents(ctx, t, ds, down)
}

// refusedGrace: how long a healed node may take to connect on its own.
const refusedGrace = 10 * time.Second

// bgpNoNewSession: every hybrid node keeps the BGP session it has but
// refuses to open a new one (TCP 179 SYNs reset): an agent that restarts
// comes back without its session, so without re-advertising.
func bgpNoNewSession(ctx context.Context, t Target) (Heal, []string, error) {
	// Only sessions with the router: a node-to-node mesh (kube-router)
	// re-forms after the check's agent restart, as it is no part of what
	// bgp/graceful-restart judges and would otherwise stay down past heal.
	peer := t.BGP().RouterAddress
	var rules []rule
	for _, n := range t.HybridNodes() {
		rules = append(rules, resetRules(n.Name, peer, "-m", "conntrack", "--ctstate", "NEW")...)
	}
	if len(rules) == 0 {
		return nil, nil, NotApplicable("no hybrid node")
	}
	before, err := sessionsNow(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	heal, err := iptablesFault(ctx, t, rules)
	if err != nil {
		return nil, nil, err
	}
	healed := func(ctx context.Context) error {
		if err := heal(ctx); err != nil {
			return err
		}
		if err := restartRefusedAgents(ctx, t, peer); err != nil {
			return err
		}
		return sessionsBack(ctx, t, before)
	}
	return healed, names(t.HybridNodes()), nil
}

// nodeBlock is the pod block n announces to the router, the one the CNI's
// IPAM gave it: Cilium's cluster pool does not use the node's spec.podCIDR,
// so a stranger announcing that one announced no node's block, and the
// check could only see "a foreign prefix" when its wait ran out. Without a
// route from n, the node's spec.podCIDR, else the pod CIDR (any prefix in
// it from a stranger is a fault).
func nodeBlock(ctx context.Context, t Target, n Node) (string, error) {
	_, podCIDR, _ := net.ParseCIDR(t.PodCIDR())
	if rc := t.Router(); rc != nil && podCIDR != nil {
		rs, err := rc.Routes(ctx)
		if err != nil {
			return "", fmt.Errorf("read the router's routes for %s's block: %w", n.Name, err)
		}
		for _, r := range rs {
			ip, _, err := net.ParseCIDR(r.Prefix)
			if err == nil && r.Peer == n.Address && podCIDR.Contains(ip) {
				return r.Prefix, nil
			}
		}
	}
	k, err := t.Kube().CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	if k.Spec.PodCIDR != "" {
		return k.Spec.PodCIDR, nil
	}
	return t.PodCIDR(), nil
}

// foreignPeerAnnouncesBlock: a second BGP speaker inside the router's
// neighbor range (this process, on the node network) announces another
// node's pod block.
func foreignPeerAnnouncesBlock(ctx context.Context, t Target) (Heal, []string, error) {
	b := t.BGP()
	if b.RouterAddress == "" || b.RouterASN == 0 || b.NodeASN == 0 {
		return nil, nil, NotApplicable("the run names no router address and ASNs (bgp.routerAddress, bgp.routerASN, bgp.nodeASN)")
	}
	h := t.HybridNodes()
	if len(h) == 0 {
		return nil, nil, NotApplicable("no hybrid node")
	}
	block, err := nodeBlock(ctx, t, h[len(h)-1])
	if err != nil {
		return nil, nil, err
	}
	// The address this host reaches the router from.
	c, err := net.Dial("udp", net.JoinHostPort(b.RouterAddress, "179"))
	if err != nil {
		return nil, nil, NotApplicable(fmt.Sprintf("this host has no route to the router %s: %v", b.RouterAddress, err))
	}
	local := c.LocalAddr().(*net.UDPAddr).IP.String()
	c.Close()
	// The highest router ID loses every best-path tie with the node's own
	// route, so the router keeps forwarding the block to the node.
	r, err := router.New(router.Config{ASN: uint32(b.NodeASN), RouterID: "255.255.255.254", ListenPort: -1,
		Neighbors: []router.Neighbor{{Address: b.RouterAddress, ASN: uint32(b.RouterASN), LocalAddress: local}}})
	if err != nil {
		return nil, nil, err
	}
	if err := r.Start(ctx); err != nil {
		return nil, nil, fmt.Errorf("start the stranger's BGP speaker at %s: %w", local, err)
	}
	heal := func(ctx context.Context) error {
		if err := r.Stop(); err != nil {
			return err
		}
		rc := t.Router()
		if rc == nil {
			return nil
		}
		// Healed is the router without the stranger: bgp/pod-blocks fails
		// at once on a stranger's live route over a node's block, so the
		// check after heal must not meet the session still closing.
		return poll(ctx, settle, "the router without a session or route from "+local, func(ctx context.Context) (bool, error) {
			ps, err := rc.Peers(ctx)
			if err != nil {
				return false, err
			}
			for _, p := range ps {
				if p.Address == local && p.Established() {
					return false, nil
				}
			}
			rs, err := rc.Routes(ctx)
			if err != nil {
				return false, err
			}
			for _, rt := range rs {
				if rt.Peer == local {
					return false, nil
				}
			}
			return true, nil
		})
	}
	if err := poll(ctx, injectTakes, "a session from "+local+" to the router "+b.RouterAddress, func(ctx context.Context) (bool, error) {
		ps, err := r.Client().Peers(ctx)
		if err != nil {
			return false, err
		}
		for _, p := range ps {
			if p.Established() {
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		_ = heal(ctx)
		return nil, nil, NotApplicable(fmt.Sprintf("the router does not peer with %s (outside its neighbor prefixes?): %v", local, err))
	}
	if err := r.Client().Advertise(ctx, block, local); err != nil {
		return nil, nil, healAfter(ctx, heal, err)
	}
	return heal, []string{local, block}, nil
}

// bgpResourceEdited: the first BGP resource's first number departs from
// the guide's (a timer, an ASN): what a hand edit does.
func bgpResourceEdited(ctx context.Context, t Target) (Heal, []string, error) {
	objs, err := t.BGPResources(ctx)
	if err != nil {
		return nil, nil, err
	}
	o, path := guideNumber(objs, t.GuideBGPResources())
	if o == nil {
		return nil, nil, NotApplicable(fmt.Sprintf("none of %s's %d BGP resources has a number the guide sets in its spec to edit", t.CNI(), len(objs)))
	}
	gv, err := schema.ParseGroupVersion(o.GetAPIVersion())
	if err != nil {
		return nil, nil, err
	}
	// CRD plurals of BGP kinds are the lower-case kind plus "s".
	gvr := gv.WithResource(strings.ToLower(o.GetKind()) + "s")
	ri := t.Dynamic().Resource(gvr).Namespace(o.GetNamespace())
	saved := o.DeepCopy()
	set := func(ctx context.Context, spec any) error {
		return retryUpdate(ctx, func(ctx context.Context) error {
			cur, err := ri.Get(ctx, o.GetName(), metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur.Object["spec"] = spec
			_, err = ri.Update(ctx, cur, metav1.UpdateOptions{})
			return err
		}, func(ctx context.Context) (bool, error) {
			cur, err := ri.Get(ctx, o.GetName(), metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return reflect.DeepEqual(cur.Object["spec"], spec), nil
		})
	}
	before, err := sessionsNow(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	edited := o.DeepCopy()
	v, _, _ := unstructured.NestedFieldNoCopy(edited.Object, path...)
	switch n := v.(type) {
	case int64:
		_ = unstructured.SetNestedField(edited.Object, n+1, path...)
	case float64:
		_ = unstructured.SetNestedField(edited.Object, n+1, path...)
	}
	if err := set(ctx, edited.Object["spec"]); err != nil {
		return nil, nil, fmt.Errorf("edit %s %s %s: %w", o.GetKind(), o.GetName(), strings.Join(path, "."), err)
	}
	heal := func(ctx context.Context) error {
		if err := set(ctx, saved.Object["spec"]); err != nil {
			return err
		}
		// An edited ASN or timer resets sessions: healed is every session
		// of before the fault back.
		return sessionsBack(ctx, t, before)
	}
	return heal, []string{o.GetName()}, nil
}

// guideNumber picks the object of the cluster's and the path of a number
// in its spec that the guide's own object sets: a number the guide leaves
// to the server's default is no departure from the guide, so editing it
// breaks nothing bgp/resources judges.
func guideNumber(objs, guide []*unstructured.Unstructured) (*unstructured.Unstructured, []string) {
	for _, g := range guide {
		p := firstNumber(g.Object["spec"], []string{"spec"})
		if p == nil {
			continue
		}
		for _, o := range objs {
			if o.GetKind() != g.GetKind() || o.GetName() != g.GetName() {
				continue
			}
			switch v, _, _ := unstructured.NestedFieldNoCopy(o.Object, p...); v.(type) {
			case int64, float64:
				return o, p
			}
		}
	}
	return nil, nil
}

// firstNumber is the path to the first number under v (maps in key order;
// lists are not entered), or nil.
func firstNumber(v any, at []string) []string {
	switch x := v.(type) {
	case int64, float64:
		return at
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		for i := 1; i < len(keys); i++ {
			for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
				keys[j], keys[j-1] = keys[j-1], keys[j]
			}
		}
		for _, k := range keys {
			if p := firstNumber(x[k], append(append([]string{}, at...), k)); p != nil {
				return p
			}
		}
	}
	return nil
}

// filterName names the router policy and sets serviceRoutesFiltered adds.
const filterName = "hybridcni-fault-services"

// serviceRoutesFiltered: the on-prem router's import policy drops every
// service host route (a /32 in the service CIDR, the checks' LoadBalancer
// pool or external IP range) learned from one hybrid node, as a prefix
// list on that neighbor would; its session and pod block stay.
func serviceRoutesFiltered(ctx context.Context, t Target) (Heal, []string, error) {
	rc := t.Router()
	if rc == nil {
		return nil, nil, NotApplicable("the environment gives no router API to filter on")
	}
	h := t.HybridNodes()
	if len(h) == 0 {
		return nil, nil, NotApplicable("no hybrid node")
	}
	n := h[len(h)-1]
	var ps []router.PrefixMatch
	for _, c := range []string{t.Network().ServiceCIDR, cni.LoadBalancerPoolCIDR, cni.ExternalIPCIDR} {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			continue
		}
		ps = append(ps, router.PrefixMatch{Prefix: p.Masked().String(), MinLen: 32, MaxLen: 32})
	}
	if len(ps) == 0 {
		return nil, nil, NotApplicable("the run names no service CIDR (network.serviceCIDR)")
	}
	if err := rc.RejectImport(ctx, filterName, n.Address, ps); err != nil {
		return nil, nil, err
	}
	heal := func(ctx context.Context) error { return rc.RemoveImportReject(ctx, filterName, n.Address) }
	return heal, []string{n.Name, n.Address}, nil
}

// faultHoldTime is the hold time bgpHoldTimeChanged has the agents announce:
// twice the guide's, below the topology's router (90 s), so the negotiated
// one shows it.
const faultHoldTime = 60 * time.Second

// resetAfter is how long a node may keep negotiating its old hold time
// before the router resets its session (Cilium applies new timers to the
// sessions it opens next; an operator clears the session for them to take).
// A variable so a test need not wait a minute.
var resetAfter = time.Minute

// bgpHoldTimeChanged: the CNI's BGP configuration gives the agents another
// hold time (kube-router --bgp-holdtime, Cilium's CiliumBGPPeerConfig), as
// a hand edit or an upgrade with other values would; the sessions come back
// with it.
func bgpHoldTimeChanged(ctx context.Context, t Target) (Heal, []string, error) {
	ed, ok := t.Profile().(cni.BGPHoldTimeEditor)
	if !ok {
		return nil, nil, NotApplicable(t.CNI() + " states no way to change its agents' BGP hold time (framework/cni BGPHoldTimeEditor)")
	}
	rc := t.Router()
	if rc == nil {
		return nil, nil, NotApplicable("the environment gives no router API to read the sessions from")
	}
	var nodes []router.Node
	for _, n := range t.HybridNodes() {
		nodes = append(nodes, router.Node{Name: n.Name, Address: n.Address})
	}
	if len(nodes) == 0 {
		return nil, nil, NotApplicable("no hybrid node")
	}
	k := router.NewChecker(rc)
	before := map[string]time.Duration{}
	hold := faultHoldTime
	for _, n := range nodes {
		p, err := k.PeerParamsOf(ctx, n)
		if err != nil {
			return nil, nil, fmt.Errorf("read the session of %s before the fault: %w", n, err)
		}
		before[n.Address] = p.HoldTime
		if p.HoldTime == hold {
			hold = faultHoldTime * 3 / 4
		}
	}
	// New flags restart the agents (kube-router), and with them any
	// node-to-node mesh: with a node shell, healed is every session back
	// (without one, the API tier's stand-ins, the router's view alone).
	sessions, serr := sessionsNow(ctx, t)
	restore, what, err := ed.SetBGPHoldTime(ctx, t.Cluster(), hold)
	if err != nil {
		return nil, nil, err
	}
	heal := func(ctx context.Context) error {
		if err := restore(ctx); err != nil {
			return err
		}
		if err := holdTimesSettle(ctx, rc, nodes, "the hold time negotiated before the fault", func(n router.Node, got time.Duration) bool {
			return got == before[n.Address]
		}); err != nil {
			return err
		}
		if serr != nil {
			return nil
		}
		return sessionsBack(ctx, t, sessions)
	}
	if err := holdTimesSettle(ctx, rc, nodes, "another hold time than before ("+what+")", func(n router.Node, got time.Duration) bool {
		return got != before[n.Address]
	}); err != nil {
		return nil, nil, healAfter(ctx, heal, fmt.Errorf("the fault did not take: %w", err))
	}
	return heal, append(names(t.HybridNodes()), what), nil
}

// holdTimesSettle waits until every node's session is established with a
// hold time ok accepts, resetting (once) the session of a node that keeps
// another for resetAfter.
func holdTimesSettle(ctx context.Context, rc *router.Client, nodes []router.Node, want string, ok func(router.Node, time.Duration) bool) error {
	k := router.NewChecker(rc)
	start := time.Now()
	reset := map[string]bool{}
	return poll(ctx, settle, "every hybrid node's session with "+want, func(ctx context.Context) (bool, error) {
		var wrong []string
		for _, n := range nodes {
			p, err := k.PeerParamsOf(ctx, n)
			if err != nil {
				wrong = append(wrong, err.Error())
				continue
			}
			if ok(n, p.HoldTime) {
				continue
			}
			wrong = append(wrong, fmt.Sprintf("%s: hold time %s", n, p.HoldTime))
			if time.Since(start) > resetAfter && !reset[n.Address] {
				reset[n.Address] = true
				if err := rc.ResetSession(ctx, n.Address); err != nil {
					return false, err
				}
			}
		}
		if len(wrong) > 0 {
			return false, fmt.Errorf("%s", strings.Join(wrong, "; "))
		}
		return true, nil
	})
}
