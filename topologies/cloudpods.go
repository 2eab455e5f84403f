package topologies

import (
	"context"
	"fmt"
	"net/netip"
)

// RouteCloudPods makes the cloud pods' addresses reachable from the on-prem
// side, as a VPC's are through the hybrid network: the router routes each
// cloud worker's pod block (blocks: block -> the worker's address) to that
// worker, and hybrid nodes route cloudPods through the router. Without a
// router, hybrid nodes refuse cloudPods instead of sending anything off the
// machine.
func (e *Env) RouteCloudPods(ctx context.Context, cloudPods netip.Prefix, blocks map[netip.Prefix]netip.Addr) error {
	if e.RouterContainer != "" {
		if err := e.inContainer(ctx, e.RouterContainer, func(c *ContainerNet) error {
			for b, via := range blocks {
				if !cloudPods.Contains(b.Addr()) {
					return fmt.Errorf("cloud pod block %s is outside %s", b, cloudPods)
				}
				if err := c.RouteVia(b, via, netip.Addr{}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	for _, n := range e.Nodes {
		if !n.Hybrid {
			continue
		}
		if err := e.inContainer(ctx, n.Name, func(c *ContainerNet) error {
			if e.RouterContainer != "" {
				return c.RouteVia(cloudPods, e.Router, netip.Addr{})
			}
			return c.Unreachable(cloudPods)
		}); err != nil {
			return err
		}
	}
	return nil
}
