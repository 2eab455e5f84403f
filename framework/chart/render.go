package chart

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	helmchart "helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/hybridcni/hybridcni/framework/config"
)

// FieldKubernetesVersion is the configuration field of the cluster's Kubernetes version.
const FieldKubernetesVersion = "kubernetes.version"

// FieldChartSource is the run field naming the chart source (--chart-repo).
const FieldChartSource = "cni.chartSource"

// Chart is one loaded chart version.
type Chart struct {
	c *helmchart.Chart
	// Origin is the archive path or URL the chart was read from.
	Origin string
	// src is the source Load read it from (nil for LoadPath): where a
	// separate CRD chart of the same version is looked for.
	src *Source
}

// LoadPath loads a chart archive or unpacked chart folder directly.
func LoadPath(path string) (*Chart, error) {
	c, err := loader.Load(path)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", path, err)
	}
	return &Chart{c: c, Origin: path}, nil
}

// Name is the chart's name (cilium, tigera-operator).
func (c *Chart) Name() string { return c.c.Name() }

// Version is the chart version as the chart spells it.
func (c *Chart) Version() string { return c.c.Metadata.Version }

// KubeVersion is the chart's Kubernetes version constraint, if any.
func (c *Chart) KubeVersion() string { return c.c.Metadata.KubeVersion }

// DefaultValues are the chart's own values.yaml.
func (c *Chart) DefaultValues() map[string]any { return c.c.Values }

// RenderOptions say for which release and cluster a chart is rendered.
type RenderOptions struct {
	ReleaseName string
	Namespace   string
	// KubeVersion is the cluster's Kubernetes version (required: Helm's
	// offline default, 1.20, fails charts that require newer clusters).
	KubeVersion string
	// APIVersions are extra group/versions (or group/version/kind) the
	// cluster serves, on top of the built-in Kubernetes ones.
	APIVersions []string
	// SkipCRDs leaves out the chart's crds/ folder.
	SkipCRDs bool
}

// Render renders a chart offline, as `helm install` would apply it, and
// returns the objects in install order: the chart's CRDs (or those of the
// separate CRD chart it needs, see CRDChartFor), pre-install hooks,
// the manifests (in Helm's install order), then post-install hooks.
func Render(ctx context.Context, c *Chart, values map[string]any, o RenderOptions) ([]*unstructured.Unstructured, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if strings.TrimSpace(o.KubeVersion) == "" {
		return nil, config.Invalid(FieldKubernetesVersion, "is empty: the chart must be rendered for the cluster's Kubernetes version",
			"set kubernetes.version (--kubernetes-version), e.g. 1.31.0")
	}
	kv, err := chartutil.ParseKubeVersion(o.KubeVersion)
	if err != nil {
		return nil, config.Invalid(FieldKubernetesVersion, fmt.Sprintf("%q is not a Kubernetes version", o.KubeVersion),
			"write a version such as 1.31.0")
	}
	if want := c.KubeVersion(); want != "" && !chartutil.IsCompatibleRange(want, kv.String()) {
		return nil, config.Invalid(FieldKubernetesVersion,
			fmt.Sprintf("chart %s %s requires kubeVersion %s, which Kubernetes %s does not satisfy", c.Name(), c.Version(), want, kv.String()),
			"set kubernetes.version to a version the chart supports, or pick another chart version")
	}

	cfg := &action.Configuration{Log: func(string, ...any) {}}
	install := action.NewInstall(cfg)
	install.DryRun = true
	install.ClientOnly = true
	install.Replace = true
	install.ReleaseName = o.ReleaseName
	install.Namespace = o.Namespace
	install.KubeVersion = kv
	install.APIVersions = o.APIVersions
	install.IncludeCRDs = !o.SkipCRDs
	rel, err := install.RunWithContext(ctx, c.c, copyValues(values))
	if err != nil {
		return nil, fmt.Errorf("render chart %s %s: %w", c.Name(), c.Version(), err)
	}

	var stream bytes.Buffer
	writeHooks(&stream, rel.Hooks, release.HookPreInstall)
	stream.WriteString(rel.Manifest)
	writeHooks(&stream, rel.Hooks, release.HookPostInstall)
	objs, err := Decode(&stream)
	if err != nil {
		return nil, fmt.Errorf("render chart %s %s: %w", c.Name(), c.Version(), err)
	}
	if o.SkipCRDs {
		return objs, nil
	}
	// A chart whose CRDs ship as a separate chart: those first, as the
	// install applies them (see crdcharts.go).
	crds, err := companionCRDs(ctx, c, kv.String())
	if err != nil {
		return nil, err
	}
	return append(crds, objs...), nil
}

func writeHooks(w *bytes.Buffer, hooks []*release.Hook, event release.HookEvent) {
	for _, h := range hooks {
		for _, e := range h.Events {
			if e == event {
				fmt.Fprintf(w, "\n---\n%s\n", h.Manifest)
				break
			}
		}
	}
}

// Decode reads a multi-document YAML stream into objects, in order, skipping
// empty documents.
func Decode(r io.Reader) ([]*unstructured.Unstructured, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var out []*unstructured.Unstructured
	for i := 0; ; i++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if t := bytes.TrimSpace(js); len(t) == 0 || string(t) == "null" {
			continue
		}
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(js); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		out = append(out, obj)
	}
}

// Encode writes objects as one multi-document YAML stream.
func Encode(w io.Writer, objs []*unstructured.Unstructured) error {
	for _, o := range objs {
		data, err := yaml.Marshal(o.Object)
		if err != nil {
			return fmt.Errorf("%s %s: %w", o.GetKind(), o.GetName(), err)
		}
		if _, err := fmt.Fprintf(w, "---\n%s", data); err != nil {
			return err
		}
	}
	return nil
}

// copyValues deep-copies values so Helm cannot change the caller's map.
func copyValues(v map[string]any) map[string]any {
	if v == nil {
		return map[string]any{}
	}
	data, err := yaml.Marshal(v)
	if err != nil {
		return v
	}
	out := map[string]any{}
	if err := yaml.Unmarshal(data, &out); err != nil {
		return v
	}
	return out
}
