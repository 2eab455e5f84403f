package main

import (
	"errors"
	"fmt"
	"log"
	"net/netip"

	"github.com/spf13/cobra"

	"github.com/hybridcni/hybridcni/framework/echo"
	"github.com/hybridcni/hybridcni/framework/router"
)

func init() { register(newStandinNodeCmd) }

// newStandinNodeCmd is a hidden stand-in for a hybrid node in the Docker
// tests: a GoBGP speaker that peers with the on-prem router and advertises
// a pod block with its own address as next hop, plus an echo server that
// answers on the node's and the pod's addresses (the test puts the pod
// address on lo from the host).
func newStandinNodeCmd() *cobra.Command {
	var (
		asn, peerASN   uint32
		nodeIP, peerIP string
		blocks         []string
		httpPort       int
	)
	cmd := &cobra.Command{
		Use:    "standin-node",
		Short:  "Test stand-in for a hybrid node: BGP speaker advertising pod blocks, and an echo server",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			for _, b := range blocks {
				if _, err := netip.ParsePrefix(b); err != nil {
					return invalidf("--advertise %q: write a pod block such as 10.85.0.0/25", b)
				}
			}
			logger := log.New(cmd.ErrOrStderr(), "", log.LstdFlags)
			r, err := router.New(router.Config{
				ASN: asn, RouterID: nodeIP, ListenPort: -1,
				Neighbors:    []router.Neighbor{{Address: peerIP, ASN: peerASN, LocalAddress: nodeIP}},
				ConnectRetry: router.DefaultConnectRetry / 5,
			}, router.WithLogf(logger.Printf))
			var cerr *router.ConfigError
			if errors.As(err, &cerr) {
				return invalidf("%v", err)
			} else if err != nil {
				return err
			}
			srv, err := echo.Listen(echo.Config{HTTPPort: httpPort, UDPPort: -1, TCPPort: -1})
			if err != nil {
				return err
			}
			if err := r.Start(ctx); err != nil {
				return err
			}
			defer r.Stop()
			for _, b := range blocks {
				if err := r.Client().Advertise(ctx, b, nodeIP); err != nil {
					return err
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "listening http=%v; advertising %v next hop %s to %s\n", srv.HTTPAddr(), blocks, nodeIP, peerIP)
			return srv.Serve(ctx)
		},
	}
	f := cmd.Flags()
	f.Uint32Var(&asn, "asn", 65001, "the node's AS number")
	f.StringVar(&nodeIP, "node-address", "", "the node's address (router id, session source and next hop)")
	f.StringVar(&peerIP, "router-address", "", "the on-prem router's address")
	f.Uint32Var(&peerASN, "router-asn", 65000, "the router's AS number")
	f.StringArrayVar(&blocks, "advertise", nil, "pod block to advertise (repeatable)")
	f.IntVar(&httpPort, "http-port", echo.DefaultHTTPPort, "echo HTTP port")
	return cmd
}
