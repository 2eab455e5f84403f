package router

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	api "github.com/osrg/gobgp/v3/api"
)

// policyBackend is the part of GoBGP's API that changes routing policy and
// resets sessions, in process or over gRPC.
type policyBackend interface {
	addDefinedSet(ctx context.Context, r *api.AddDefinedSetRequest) error
	deleteDefinedSet(ctx context.Context, r *api.DeleteDefinedSetRequest) error
	addPolicy(ctx context.Context, r *api.AddPolicyRequest) error
	deletePolicy(ctx context.Context, r *api.DeletePolicyRequest) error
	addPolicyAssignment(ctx context.Context, r *api.AddPolicyAssignmentRequest) error
	deletePolicyAssignment(ctx context.Context, r *api.DeletePolicyAssignmentRequest) error
	resetPeer(ctx context.Context, r *api.ResetPeerRequest) error
}

// PrefixMatch is a prefix and the range of prefix lengths it matches inside
// it ("10.96.0.0/16" with 32..32: every host route in 10.96.0.0/16).
type PrefixMatch struct {
	Prefix         string
	MinLen, MaxLen uint32
}

func (p PrefixMatch) String() string {
	return fmt.Sprintf("%s le %d ge %d", p.Prefix, p.MaxLen, p.MinLen)
}

// globalRIB is GoBGP's name of the global table's policy assignment.
const globalRIB = "global"

// RejectImport installs an import filter on the router, as a network
// engineer's prefix list on one neighbor would be: routes matching any of
// prefixes learned from neighbor (its address) are rejected before they
// reach the RIB; every other route, and the session, stay. GoBGP keeps
// per-neighbor import policy for route-server clients only, so the filter
// is a global import policy whose statement matches the neighbor (a
// neighbor set) and the prefixes (a prefix set), all named after name. The
// neighbor's routes already received are filtered again at once (soft
// reset in, from the Adj-RIB-In: no message to the neighbor). Undo with
// RemoveImportReject(name, neighbor).
func (c *Client) RejectImport(ctx context.Context, name, neighbor string, prefixes []PrefixMatch) error {
	if ip := net.ParseIP(neighbor); ip == nil || ip.To4() == nil {
		return &ConfigError{"neighbor", neighbor, "use the neighbor's IPv4 address"}
	}
	if len(prefixes) == 0 {
		return &ConfigError{"prefixes", "none", "name the prefixes to reject"}
	}
	var ps []*api.Prefix
	for _, p := range prefixes {
		if err := checkPrefix(p.Prefix); err != nil {
			return err
		}
		_, n, _ := net.ParseCIDR(p.Prefix)
		ones, _ := n.Mask.Size()
		if p.MinLen < uint32(ones) || p.MaxLen < p.MinLen || p.MaxLen > 32 {
			return &ConfigError{"prefix length range", p, fmt.Sprintf("use %d <= min <= max <= 32", ones)}
		}
		ps = append(ps, &api.Prefix{IpPrefix: n.String(), MaskLengthMin: p.MinLen, MaskLengthMax: p.MaxLen})
	}
	pb, ok := c.b.(policyBackend)
	if !ok {
		return errors.New("router: this client cannot change routing policy")
	}
	undo := func() { _ = c.RemoveImportReject(context.WithoutCancel(ctx), name, neighbor) }
	steps := []func() error{
		func() error {
			return pb.addDefinedSet(ctx, &api.AddDefinedSetRequest{DefinedSet: &api.DefinedSet{
				DefinedType: api.DefinedType_PREFIX, Name: name + "-prefixes", Prefixes: ps}})
		},
		func() error {
			return pb.addDefinedSet(ctx, &api.AddDefinedSetRequest{DefinedSet: &api.DefinedSet{
				DefinedType: api.DefinedType_NEIGHBOR, Name: name + "-neighbor", List: []string{neighbor + "/32"}}})
		},
		func() error {
			return pb.addPolicy(ctx, &api.AddPolicyRequest{Policy: &api.Policy{Name: name, Statements: []*api.Statement{{
				Name: name + "-reject",
				Conditions: &api.Conditions{
					PrefixSet:   &api.MatchSet{Name: name + "-prefixes", Type: api.MatchSet_ANY},
					NeighborSet: &api.MatchSet{Name: name + "-neighbor", Type: api.MatchSet_ANY},
				},
				Actions: &api.Actions{RouteAction: api.RouteAction_REJECT},
			}}}})
		},
		func() error {
			// DefaultAction NONE keeps the router's default (accept).
			return pb.addPolicyAssignment(ctx, &api.AddPolicyAssignmentRequest{Assignment: &api.PolicyAssignment{
				Name: globalRIB, Direction: api.PolicyDirection_IMPORT, Policies: []*api.Policy{{Name: name}}}})
		},
		func() error {
			return pb.resetPeer(ctx, &api.ResetPeerRequest{Address: neighbor, Soft: true, Direction: api.ResetPeerRequest_IN})
		},
	}
	for _, s := range steps {
		if err := s(); err != nil {
			undo()
			return fmt.Errorf("router: import filter %s on neighbor %s: %w", name, neighbor, err)
		}
	}
	return nil
}

// RemoveImportReject removes what RejectImport installed under name (what
// is not there is no error) and has the neighbor's routes filtered again,
// so those it rejected are back in the RIB.
func (c *Client) RemoveImportReject(ctx context.Context, name, neighbor string) error {
	pb, ok := c.b.(policyBackend)
	if !ok {
		return errors.New("router: this client cannot change routing policy")
	}
	var errs []error
	keep := func(err error) {
		if err != nil && !notFound(err) {
			errs = append(errs, err)
		}
	}
	keep(pb.deletePolicyAssignment(ctx, &api.DeletePolicyAssignmentRequest{Assignment: &api.PolicyAssignment{
		Name: globalRIB, Direction: api.PolicyDirection_IMPORT, Policies: []*api.Policy{{Name: name}}}}))
	keep(pb.deletePolicy(ctx, &api.DeletePolicyRequest{Policy: &api.Policy{Name: name}, All: true}))
	keep(pb.deleteDefinedSet(ctx, &api.DeleteDefinedSetRequest{DefinedSet: &api.DefinedSet{DefinedType: api.DefinedType_NEIGHBOR, Name: name + "-neighbor"}, All: true}))
	keep(pb.deleteDefinedSet(ctx, &api.DeleteDefinedSetRequest{DefinedSet: &api.DefinedSet{DefinedType: api.DefinedType_PREFIX, Name: name + "-prefixes"}, All: true}))
	if neighbor != "" {
		keep(pb.resetPeer(ctx, &api.ResetPeerRequest{Address: neighbor, Soft: true, Direction: api.ResetPeerRequest_IN}))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("router: remove import filter %s: %w", name, err)
	}
	return nil
}

// ResetSession closes the router's session with neighbor (a Cease, as
// `gobgp neighbor ADDR reset` sends); the neighbor connects again and the
// session's parameters are negotiated anew.
func (c *Client) ResetSession(ctx context.Context, neighbor string) error {
	pb, ok := c.b.(policyBackend)
	if !ok {
		return errors.New("router: this client cannot reset sessions")
	}
	if err := pb.resetPeer(ctx, &api.ResetPeerRequest{Address: neighbor, Communication: "hybridcni: session reset"}); err != nil {
		return fmt.Errorf("router: reset the session with %s: %w", neighbor, err)
	}
	return nil
}

// notFound: GoBGP's answer for a policy, set or assignment that is not there.
func notFound(err error) bool {
	s := err.Error()
	for _, sub := range []string{"not found", "doesn't exist", "does not exist", "not exist"} {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func (l localBackend) addDefinedSet(ctx context.Context, r *api.AddDefinedSetRequest) error {
	return l.s.AddDefinedSet(ctx, r)
}
func (l localBackend) deleteDefinedSet(ctx context.Context, r *api.DeleteDefinedSetRequest) error {
	return l.s.DeleteDefinedSet(ctx, r)
}
func (l localBackend) addPolicy(ctx context.Context, r *api.AddPolicyRequest) error {
	return l.s.AddPolicy(ctx, r)
}
func (l localBackend) deletePolicy(ctx context.Context, r *api.DeletePolicyRequest) error {
	return l.s.DeletePolicy(ctx, r)
}
func (l localBackend) addPolicyAssignment(ctx context.Context, r *api.AddPolicyAssignmentRequest) error {
	return l.s.AddPolicyAssignment(ctx, r)
}
func (l localBackend) deletePolicyAssignment(ctx context.Context, r *api.DeletePolicyAssignmentRequest) error {
	return l.s.DeletePolicyAssignment(ctx, r)
}
func (l localBackend) resetPeer(ctx context.Context, r *api.ResetPeerRequest) error {
	return l.s.ResetPeer(ctx, r)
}

func (g grpcBackend) addDefinedSet(ctx context.Context, r *api.AddDefinedSetRequest) error {
	_, err := g.c.AddDefinedSet(ctx, r)
	return err
}
func (g grpcBackend) deleteDefinedSet(ctx context.Context, r *api.DeleteDefinedSetRequest) error {
	_, err := g.c.DeleteDefinedSet(ctx, r)
	return err
}
func (g grpcBackend) addPolicy(ctx context.Context, r *api.AddPolicyRequest) error {
	_, err := g.c.AddPolicy(ctx, r)
	return err
}
func (g grpcBackend) deletePolicy(ctx context.Context, r *api.DeletePolicyRequest) error {
	_, err := g.c.DeletePolicy(ctx, r)
	return err
}
func (g grpcBackend) addPolicyAssignment(ctx context.Context, r *api.AddPolicyAssignmentRequest) error {
	_, err := g.c.AddPolicyAssignment(ctx, r)
	return err
}
func (g grpcBackend) deletePolicyAssignment(ctx context.Context, r *api.DeletePolicyAssignmentRequest) error {
	_, err := g.c.DeletePolicyAssignment(ctx, r)
	return err
}
func (g grpcBackend) resetPeer(ctx context.Context, r *api.ResetPeerRequest) error {
	_, err := g.c.ResetPeer(ctx, r)
	return err
}
