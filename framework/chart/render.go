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
	docs, err := RenderDocs(ctx, c, values, o)
	if err != nil {
		return nil, err
	}
	return Objects(docs), nil
}

// Doc is one rendered object and the chart file it came from, as Helm's
// "# Source:" comment names it ("cilium/templates/cilium-agent/daemonset.yaml").
type Doc struct {
	Source string
	Object *unstructured.Unstructured
}

// Objects are the docs' objects, in order.
func Objects(docs []Doc) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(docs))
	for i, d := range docs {
		out[i] = d.Object
	}
	return out
}

// RenderDocs is Render keeping each object's source file.
func RenderDocs(ctx context.Context, c *Chart, values map[string]any, o RenderOptions) ([]Doc, error) {
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
	docs, err := DecodeDocs(&stream)
	if err != nil {
		return nil, fmt.Errorf("render chart %s %s: %w", c.Name(), c.Version(), err)
	}
	if o.SkipCRDs {
		return docs, nil
	}
	// A chart whose CRDs ship as a separate chart: those first, as the
	// install applies them (see crdcharts.go).
	crds, err := companionCRDs(ctx, c, kv.String())
	if err != nil {
		return nil, err
	}
	return append(crds, docs...), nil
}

func writeHooks(w *bytes.Buffer, hooks []*release.Hook, event release.HookEvent) {
	for _, h := range hooks {
		for _, e := range h.Events {
			if e == event {
				fmt.Fprintf(w, "\n---\n# Source: %s\n%s\n", h.Path, h.Manifest)
				break
			}
		}
	}
}

// Decode reads a multi-document YAML stream into objects, in order, skipping
// empty documents.
func Decode(r io.Reader) ([]*unstructured.Unstructured, error) {
	docs, err := DecodeDocs(r)
	if err != nil {
		return nil, err
	}
	return Objects(docs), nil
}

const sourcePrefix = "# Source: "

// DecodeDocs is Decode keeping each document's "# Source:" comment; a
// document without one (the second of a file Helm printed once) has the
// source of the one before it.
func DecodeDocs(r io.Reader) ([]Doc, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var out []Doc
	source := ""
	for i := 0; ; i++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if s := docSource(doc); s != "" {
			source = s
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
		out = append(out, Doc{Source: source, Object: obj})
	}
}

// docSource is the "# Source:" comment heading a document, if any.
func docSource(doc []byte) string {
	for _, line := range strings.Split(string(doc), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line == "---":
			continue
		case strings.HasPrefix(line, sourcePrefix):
			return strings.TrimSpace(strings.TrimPrefix(line, sourcePrefix))
		case strings.HasPrefix(line, "#"):
			continue
		}
		return ""
	}
	return ""
}

// Encode writes objects as one multi-document YAML stream.
func Encode(w io.Writer, objs []*unstructured.Unstructured) error {
	docs := make([]Doc, len(objs))
	for i, o := range objs {
		docs[i] = Doc{Object: o}
	}
	return EncodeDocs(w, docs)
}

// EncodeDocs writes docs as one multi-document YAML stream, each headed by
// its "# Source:" comment, as helm template prints them.
func EncodeDocs(w io.Writer, docs []Doc) error {
	for _, d := range docs {
		data, err := yaml.Marshal(d.Object.Object)
		if err != nil {
			return fmt.Errorf("%s %s: %w", d.Object.GetKind(), d.Object.GetName(), err)
		}
		head := "---\n"
		if d.Source != "" {
			head += sourcePrefix + d.Source + "\n"
		}
		if _, err := fmt.Fprintf(w, "%s%s", head, data); err != nil {
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
