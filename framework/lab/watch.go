package lab

import (
	"context"
	"fmt"

	"github.com/vishvananda/netlink"
)

// WaitRoutes evaluates cond on the namespace's main-table IPv4 routes now
// and after every kernel route change until it returns true or ctx ends;
// then it returns an error with cond's last reason and the routes it saw.
func (n *NS) WaitRoutes(ctx context.Context, cond func([]Route) (bool, string)) error {
	updates := make(chan netlink.RouteUpdate, 256)
	done := make(chan struct{})
	defer close(done)
	h := n.handle
	if err := netlink.RouteSubscribeWithOptions(updates, done, netlink.RouteSubscribeOptions{Namespace: &h}); err != nil {
		return fmt.Errorf("lab: %s: watch routes: %w", n.Short, err)
	}
	var last []Route
	reason := ""
	for {
		rs, err := n.Routes(0)
		if err != nil {
			return err
		}
		last = rs
		ok, why := cond(rs)
		if ok {
			return nil
		}
		reason = why
		select {
		case <-ctx.Done():
			return fmt.Errorf("lab: %s: %s; kernel routes: %v", n.Short, reason, last)
		case _, open := <-updates:
			if !open {
				return fmt.Errorf("lab: %s: route watch closed; %s", n.Short, reason)
			}
			for len(updates) > 0 {
				<-updates
			}
		}
	}
}
