package main

import (
	"errors"
	"log"

	"github.com/spf13/cobra"

	"github.com/hybridcni/hybridcni/framework/router"
)

func init() { register(newRouterCmd) }

// newRouterCmd runs the on-prem BGP router hybrid nodes peer with.
func newRouterCmd() *cobra.Command {
	cfg := router.Config{}
	var listenAddr string
	cmd := &cobra.Command{
		Use:   "router",
		Short: "Run the on-prem BGP router (GoBGP) that hybrid nodes peer with",
		Long: `Run a GoBGP router that accepts hybrid nodes as dynamic neighbors from
--neighbor-prefix, installs their pod CIDRs into this host's routing table
(--install-routes) and serves GoBGP's gRPC API on --api-address, so the stock
"gobgp" CLI works against it. SIGTERM closes the sessions and removes the
installed routes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if listenAddr != "" {
				cfg.ListenAddresses = []string{listenAddr}
			}
			logger := log.New(cmd.ErrOrStderr(), "", log.LstdFlags)
			err := router.Run(cmd.Context(), cfg, router.WithLogf(logger.Printf))
			var cerr *router.ConfigError
			if errors.As(err, &cerr) {
				return invalidf("%v", err)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.Uint32Var(&cfg.ASN, "asn", 0, "the router's AS number (required)")
	f.StringVar(&cfg.RouterID, "router-id", "", "BGP router id, an IPv4 address (required)")
	f.StringVar(&listenAddr, "listen-address", "0.0.0.0", "address to accept BGP sessions on")
	f.Int32Var(&cfg.ListenPort, "listen-port", router.DefaultListenPort, "BGP port")
	f.StringArrayVar(&cfg.NeighborPrefixes, "neighbor-prefix", nil, "CIDR hybrid nodes may peer from (repeatable)")
	f.Uint32Var(&cfg.NeighborASN, "neighbor-asn", 0, "AS number the nodes must use (0: any)")
	f.StringVar(&cfg.APIAddress, "api-address", router.DefaultAPIAddress, "GoBGP gRPC API address (host:port or unix:///path)")
	f.BoolVar(&cfg.InstallRoutes, "install-routes", true, "install learned routes into the kernel routing table")
	f.DurationVar(&cfg.HoldTime, "hold-time", router.DefaultHoldTime, "BGP hold time")
	f.DurationVar(&cfg.Keepalive, "keepalive", router.DefaultKeepalive, "BGP keepalive interval")
	f.DurationVar(&cfg.ConnectRetry, "connect-retry", router.DefaultConnectRetry, "BGP connect-retry interval")
	f.BoolVar(&cfg.GracefulRestart, "graceful-restart", true, "graceful restart: keep a restarting node's routes for its restart time")
	f.DurationVar(&cfg.RestartTime, "restart-time", router.DefaultRestartTime, "restart time this router advertises")
	f.Uint32Var(&cfg.MaxPrefixes, "max-prefixes", 0, "per-peer limit on received prefixes (0: none)")
	return cmd
}
