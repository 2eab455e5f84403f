package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"

	"github.com/spf13/cobra"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/hybridcni/hybridcni/framework/chart"
	"github.com/hybridcni/hybridcni/framework/cni"
	_ "github.com/hybridcni/hybridcni/framework/cni/all" // registers every CNI profile and driver
	"github.com/hybridcni/hybridcni/framework/config"
)

func init() { register(newRenderCmd) }

func newRenderCmd() *cobra.Command {
	var flags *runFlags
	var stable, valuesOnly bool
	var output string
	cmd := &cobra.Command{
		Use:   "render",
		Short: "Print every object the install step would apply, as one YAML stream",
		Long: "Render the CNI chart offline for the run's Kubernetes version with the hybrid-nodes values\n" +
			"(and any --values files, merged last), then the BGP resources when BGP is on. Each document\n" +
			"starts with a \"# Source:\" comment naming its chart file, as helm template prints it.",
		Example: `  hybridcni render --cni cilium --version 1.16.19 --bgp > cilium.yaml
  hybridcni render -f run.yaml --stable > a.yaml   # diff two runs without certificate noise
  hybridcni render --cni calico --values-only       # the Helm values the install passes
  hybridcni render --cni cilium -o json | jq '.[].kind'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "yaml" && output != "json" {
				return invalidf("--output %q: want yaml or json (fix: pass -o json)", output)
			}
			run, err := flags.run()
			if err != nil {
				return err
			}
			// Write only a complete stream.
			var buf bytes.Buffer
			if valuesOnly {
				vals, err := runValues(run)
				if err != nil {
					return err
				}
				if err := encodeValue(&buf, output, vals); err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(buf.Bytes())
				return err
			}
			docs, err := renderRun(cmd.Context(), run)
			if err != nil {
				return err
			}
			if stable {
				for _, d := range docs {
					d.Object.Object = stabilize(d.Object.Object, d.Object.GetKind() == "Secret").(map[string]any)
				}
			}
			if output == "json" {
				list := make([]map[string]any, len(docs))
				for i, d := range docs {
					list[i] = d.Object.Object
				}
				err = encodeValue(&buf, output, list)
			} else {
				err = chart.EncodeDocs(&buf, docs)
			}
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(buf.Bytes())
			return err
		},
	}
	flags = addRunFlags(cmd)
	cmd.Flags().BoolVar(&stable, "stable", false, "replace generated certificates and keys with placeholders, so two renders diff clean")
	cmd.Flags().BoolVar(&valuesOnly, "values-only", false, "print only the Helm values the install passes (guide's values, then --values files)")
	cmd.Flags().StringVarP(&output, "output", "o", "yaml", "output format: yaml (one stream) or json (one array)")
	return cmd
}

// runValues are the Helm values installing run passes.
func runValues(run config.Run) (map[string]any, error) {
	p, err := cni.Lookup(run.CNI.Name)
	if err != nil {
		return nil, err
	}
	return chart.MergeValuesFiles(p.Values(run), run.CNI.ValuesFiles)
}

func encodeValue(w io.Writer, format string, v any) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	data, err := sigsyaml.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

// Placeholders --stable writes instead of generated material.
const (
	placeholderPEM    = "<generated PEM, replaced by --stable>"
	placeholderSecret = "<generated secret data, replaced by --stable>"
)

// secretKeyHints mark Secret data keys that hold generated material.
var secretKeyHints = []string{".crt", ".key", ".pem", "ca", "cert", "key", "token", "password"}

// stabilize replaces generated certificates and keys in v: any string
// holding a PEM block, caBundle fields, and (inSecret) Secret data whose
// key or decoded content says it is a certificate, key or token.
func stabilize(v any, inSecret bool) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if s, ok := val.(string); ok {
				switch {
				case k == "caBundle" && s != "":
					x[k] = placeholderPEM
					continue
				case inSecret && (k == "data" || k == "stringData"):
				}
			}
			if inSecret && (k == "data" || k == "stringData") {
				if m, ok := val.(map[string]any); ok {
					for dk, dv := range m {
						if s, ok := dv.(string); ok && generatedSecret(dk, s) {
							m[dk] = placeholderSecret
						}
					}
					continue
				}
			}
			x[k] = stabilize(val, inSecret)
		}
		return x
	case []any:
		for i := range x {
			x[i] = stabilize(x[i], inSecret)
		}
		return x
	case string:
		if strings.Contains(x, "-----BEGIN ") {
			return placeholderPEM
		}
	}
	return v
}

func generatedSecret(key, val string) bool {
	if strings.Contains(val, "-----BEGIN ") {
		return true
	}
	if dec, err := base64.StdEncoding.DecodeString(val); err == nil && strings.Contains(string(dec), "-----BEGIN ") {
		return true
	}
	k := strings.ToLower(key)
	for _, h := range secretKeyHints {
		if strings.Contains(k, h) {
			return true
		}
	}
	return false
}

// renderRun returns what installing run applies: the chart's objects in
// install order, each with its chart file, then the BGP resources when BGP
// is on (their source names the CNI's profile, not a chart file).
func renderRun(ctx context.Context, run config.Run) ([]chart.Doc, error) {
	p, err := cni.Lookup(run.CNI.Name)
	if err != nil {
		return nil, err
	}
	vals, err := chart.MergeValuesFiles(p.Values(run), run.CNI.ValuesFiles)
	if err != nil {
		return nil, err
	}
	src, err := chart.NewSource(run.CNI.ChartSource)
	if err != nil {
		return nil, err
	}
	c, err := src.Load(ctx, p.ChartName(), run.CNI.Version)
	if err != nil {
		return nil, err
	}
	docs, err := chart.RenderDocs(ctx, c, vals, chart.RenderOptions{
		ReleaseName: p.ReleaseName(), Namespace: p.Namespace(), KubeVersion: run.Kubernetes.Version,
	})
	if err != nil {
		return nil, err
	}
	if run.BGP.Enabled {
		for _, o := range p.BGPResources(run) {
			docs = append(docs, chart.Doc{Source: bgpSource(p.Name()), Object: o})
		}
	}
	return docs, nil
}

// bgpSource is the "# Source:" of the BGP resources, which the harness
// makes from the CNI's profile rather than the chart.
func bgpSource(cniName string) string {
	return "hybridcni: " + cniName + " BGP resources (not from the chart)"
}
