package main

import (
	"encoding/json"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hybridcni/hybridcni/internal/table"
	"github.com/hybridcni/hybridcni/topologies"
)

func init() { register(newImagesCmd) }

func newImagesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "images",
		Short: "The images a run needs: list them, save them to a tar, load a tar into the engine or a kind cluster",
		Long: `The images a run needs, derived from the kind node image, the harness images and
the CNI charts rendered for the run (cni.version and cni.upgradeTo; for Calico also
the images its operator deploys). Save them on a machine where a registry answers,
load them on an air-gapped runner, or into a kind cluster to skip pulls.`,
	}
	cmd.AddCommand(newImagesListCmd(), newImagesSaveCmd(), newImagesLoadCmd(), newImagesBuildCmd())
	return cmd
}

func newImagesListCmd() *cobra.Command {
	var (
		tf     topoFlags
		output string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the images a run needs and whether each is present locally",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return invalidf("--output %q: want text or json (fix: pass -o json)", output)
			}
			r, _, err := tf.load()
			if err != nil {
				return err
			}
			imgs, err := topologies.RunImages(cmd.Context(), r, tf.images(r))
			if err != nil {
				return err
			}
			type row struct {
				topologies.Image
				Present *bool `json:"present,omitempty"`
			}
			rows := make([]row, len(imgs))
			dc, _ := engine(cmd.Context())
			for i, im := range imgs {
				rows[i].Image = im
				if dc != nil {
					ok, err := dc.ImageExists(cmd.Context(), im.Ref)
					if err == nil {
						rows[i].Present = &ok
					}
				}
			}
			if dc != nil {
				dc.Close()
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			w := table.New(cmd.OutOrStdout(), "image", "for", "local")
			for _, r := range rows {
				local := "unknown (no engine)"
				if r.Present != nil {
					local = map[bool]string{true: "present", false: "absent"}[*r.Present]
				}
				w.Row(r.Ref, r.For, local)
			}
			return w.Flush()
		},
	}
	tf.addForImages(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

func newImagesSaveCmd() *cobra.Command {
	var (
		tf  topoFlags
		out string
	)
	cmd := &cobra.Command{
		Use:   "save",
		Short: "Save the images a run needs into one tar (docker save format)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return invalidf("--archive is empty (fix: pass --archive images.tar, the tar file to write)")
			}
			ctx := cmd.Context()
			r, _, err := tf.load()
			if err != nil {
				return err
			}
			imgs, err := topologies.RunImages(ctx, r, tf.images(r))
			if err != nil {
				return err
			}
			dc, err := engine(ctx)
			if err != nil {
				return err
			}
			defer dc.Close()
			var refs, missing []string
			for _, im := range imgs {
				ok, err := dc.ImageExists(ctx, im.Ref)
				if err != nil {
					return err
				}
				if !ok {
					missing = append(missing, im.Ref)
				}
				refs = append(refs, im.Ref)
			}
			if len(missing) > 0 {
				return fmt.Errorf("not present locally: %s; pull them first (`docker pull IMAGE` where a registry answers), then save again", strings.Join(missing, ", "))
			}
			f, err := os.Create(out)
			if err != nil {
				return err
			}
			if err := dc.SaveImages(ctx, refs, f); err != nil {
				f.Close()
				os.Remove(out)
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "saved %d images to %s\n", len(refs), out)
			return nil
		},
	}
	tf.addForImages(cmd)
	cmd.Flags().StringVar(&out, "archive", "", "tar file to write (required)")
	// -o is a format everywhere else; the file flag was --output before.
	cmd.Flags().StringVarP(&out, "output", "o", "", "tar file to write")
	_ = cmd.Flags().MarkDeprecated("output", "use --archive (-o names an output format in every other command)")
	return cmd
}

func newImagesLoadCmd() *cobra.Command {
	var in, cluster string
	cmd := &cobra.Command{
		Use:   "load",
		Short: "Load a tar made by `images save` into the Docker engine, or into a kind cluster's nodes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if in == "" {
				return invalidf("--archive is empty (fix: pass --archive with the tar file 'hybridcni images save' wrote)")
			}
			if _, err := os.Stat(in); err != nil {
				return invalidf("--archive %s: %v (fix: pass the tar file 'hybridcni images save' wrote)", in, err)
			}
			ctx := cmd.Context()
			if cluster != "" {
				logger := log.New(cmd.ErrOrStderr(), "images: ", log.Ltime)
				if err := topologies.LoadImageArchive(cluster, in, logger.Printf); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "loaded %s into the nodes of %s\n", in, cluster)
				return nil
			}
			dc, err := engine(ctx)
			if err != nil {
				return err
			}
			defer dc.Close()
			f, err := os.Open(in)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := dc.LoadImages(ctx, f); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "loaded %s into the Docker engine\n", in)
			return nil
		},
	}
	cmd.Flags().StringVar(&in, "archive", "", "tar file written by 'hybridcni images save --archive' (required)")
	cmd.Flags().StringVarP(&in, "input", "i", "", "tar file to load")
	_ = cmd.Flags().MarkDeprecated("input", "use --archive, as images save does")
	cmd.Flags().StringVar(&cluster, "cluster", "", "load into the nodes of this kind cluster instead of the engine")
	return cmd
}
