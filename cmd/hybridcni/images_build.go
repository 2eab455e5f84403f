package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/hybridcni/hybridcni/framework/buildinfo"
	"github.com/hybridcni/hybridcni/framework/image"
	"github.com/hybridcni/hybridcni/internal/table"
)

// newImagesBuildCmd packages a static hybridcni binary (by default this
// one) into the router and echo images, with no registry and no BuildKit.
// It belongs under `hybridcni images`.
func newImagesBuildCmd() *cobra.Command {
	var binary, tag string
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Build hybridcni/router and hybridcni/echo from a static hybridcni binary (docker import, no registry)",
		Long: `Build the harness images from a static hybridcni binary: each image holds only
the binary, with the subcommand as entrypoint, tagged hybridcni/<name>:<version> and
labelled hybridcni.dev/component, /version and /binary-sha256. An image whose binary
digest is unchanged is left alone. Build the binary with CGO_ENABLED=0.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if binary == "" {
				exe, err := os.Executable()
				if err != nil {
					return err
				}
				binary = exe
			}
			if err := image.CheckStatic(binary); err != nil {
				return invalidf("--binary: %v", err)
			}
			dc, err := image.Engine(cmd.Context())
			if err != nil {
				return err
			}
			defer dc.Close()
			b := &image.Builder{Docker: dc, Binary: binary, Version: tag}
			t := table.New(cmd.OutOrStdout(), "image", "state")
			defer t.Flush()
			for _, s := range image.All {
				img, err := b.Build(cmd.Context(), s)
				if err != nil {
					return err
				}
				state := "up to date"
				if img.Fresh {
					state = "built"
				}
				t.Row(img.Ref, state)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&binary, "binary", "", "static hybridcni binary to package (default: this executable)")
	cmd.Flags().StringVar(&tag, "version", buildinfo.Version, "image tag")
	return cmd
}
