package main

import (
	"github.com/spf13/cobra"

	"github.com/hybridcni/hybridcni/framework/webhook"
)

func init() { register(newWebhookCmd) }

func newWebhookCmd() *cobra.Command {
	var listen, cert, key string
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Serve a validating admission webhook (the control-plane-to-pod check runs it on a hybrid node)",
		Long: "Allows every object except ones named " + webhook.RejectName + ", so a test can tell\n" +
			"the webhook's answer from admission that never reached it.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cert == "" || key == "" {
				return invalidf("--tls-cert and --tls-key are required (fix: pass --tls-cert cert.pem --tls-key key.pem)")
			}
			return webhook.Serve(cmd.Context(), listen, cert, key)
		},
	}
	cmd.Flags().StringVar(&listen, "listen-address", ":8443", "address (host:port) to serve HTTPS on")
	cmd.Flags().StringVar(&listen, "listen", ":8443", "address (host:port) to serve HTTPS on")
	_ = cmd.Flags().MarkDeprecated("listen", "use --listen-address, as router and echo do")
	cmd.Flags().StringVar(&cert, "tls-cert", "", "PEM certificate file")
	cmd.Flags().StringVar(&key, "tls-key", "", "PEM key file")
	return cmd
}
