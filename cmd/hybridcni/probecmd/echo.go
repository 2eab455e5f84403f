package probecmd

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hybridcni/hybridcni/framework/echo"
)

// Echo returns the `hybridcni echo` command: it serves until its
// context is cancelled (SIGINT/SIGTERM in the CLI), then stops gracefully.
// Once every socket is open it prints one line starting with "listening".
func Echo() *cobra.Command {
	cfg := echo.Config{HTTPPort: echo.DefaultHTTPPort, UDPPort: echo.DefaultUDPPort, TCPPort: -1}
	cmd := &cobra.Command{
		Use:   "echo",
		Short: "Serve the probe targets: HTTP /clientip /hostname /healthz, UDP echo, disruption frames",
		Long: `Serve the targets dataplane probes talk to.

HTTP GET /clientip answers the peer's IP:port as the server saw it, /hostname the
server's name, /healthz "ok". Every UDP datagram is answered with the peer's
IP:port, except sequence-numbered disruption frames, which come back unchanged
(TCP frames too, with --tcp-port). Stops gracefully on SIGTERM or SIGINT.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := echo.Listen(cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "listening http=%v udp=%v tcp=%v udp-receive-buffer=%d\n", s.HTTPAddr(), s.UDPAddr(), s.TCPAddr(), s.UDPReceiveBuffer())
			return s.Serve(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Address, "listen-address", "", "IP address to bind (default: all)")
	// router and webhook name it --listen-address too; --address was echo's own name.
	f.StringVar(&cfg.Address, "address", "", "IP address to bind")
	_ = f.MarkDeprecated("address", "use --listen-address, as router and webhook do")
	f.IntVar(&cfg.HTTPPort, "http-port", cfg.HTTPPort, "HTTP port (0: a free port, -1: off)")
	f.IntVar(&cfg.UDPPort, "udp-port", cfg.UDPPort, "UDP echo and disruption port (0: a free port, -1: off)")
	f.IntVar(&cfg.TCPPort, "tcp-port", cfg.TCPPort, "TCP disruption port (-1: off)")
	f.StringVar(&cfg.Hostname, "hostname", "", "name answered on /hostname (default: the host name)")
	f.IntVar(&cfg.UDPReceiveBuffer, "udp-receive-buffer", 0, "UDP receive buffer in bytes (0: 8 MiB, past net.core.rmem_max only with CAP_NET_ADMIN)")
	return cmd
}
