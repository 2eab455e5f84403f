package chart

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/repo"

	"github.com/hybridcni/hybridcni/framework/chart/charttest"
	"github.com/hybridcni/hybridcni/framework/config"
)

const kube = "1.31.0"

func mustSource(t *testing.T, loc string, opts ...Option) *Source {
	t.Helper()
	s, err := NewSource(loc, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func wantField(t *testing.T, err error, field string, contains ...string) {
	t.Helper()
	if !slices.Contains(config.Fields(err), field) {
		t.Fatalf("error %v does not name %s", err, field)
	}
	for _, c := range contains {
		if !strings.Contains(err.Error(), c) {
			t.Errorf("error %q does not mention %q", err, c)
		}
	}
}

func TestNewSourceClassifiesLocations(t *testing.T) {
	dir := charttest.Dir(t)
	chartDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(chartDir, "Chart.yaml"), []byte("apiVersion: v2\nname: tiny\nversion: 0.1.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := map[string]Kind{
		"https://helm.cilium.io/":                Repository,
		"http://127.0.0.1:1/charts":              Repository,
		dir:                                      Folder,
		"file://" + dir:                          Folder,
		filepath.Join(dir, "cilium-1.16.19.tgz"): Archive,
		chartDir:                                 ChartDir,
	}
	for loc, want := range cases {
		s, err := NewSource(loc)
		if err != nil {
			t.Errorf("NewSource(%s): %v", loc, err)
			continue
		}
		if s.Kind != want {
			t.Errorf("NewSource(%s).Kind = %s, want %s", loc, s.Kind, want)
		}
	}
}

func TestNewSourceRejectsMissingAndUnknown(t *testing.T) {
	empty := t.TempDir()
	for _, loc := range []string{"", filepath.Join(empty, "nope"), empty, "oci://registry/charts"} {
		_, err := NewSource(loc)
		wantField(t, err, FieldSource, "--chart-repo")
	}
}

func TestVersionsAndResolveOnTheRealIndex(t *testing.T) {
	s := mustSource(t, charttest.Dir(t))
	ctx := context.Background()
	// The expected lists come from the index itself, not from this test.
	idx, err := repo.LoadIndexFile(filepath.Join(s.Location, "index.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"cilium", "tigera-operator"} {
		got, err := s.Versions(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(idx.Entries[name]) || len(got) == 0 {
			t.Fatalf("%s versions = %v, index has %d", name, got, len(idx.Entries[name]))
		}
		for _, v := range got {
			// Both spellings of every version resolve to the source's own.
			for _, ask := range []string{v, "v" + strings.TrimPrefix(v, "v"), strings.TrimPrefix(v, "v")} {
				r, err := s.Resolve(ctx, name, ask)
				if err != nil || r != v {
					t.Errorf("Resolve(%s, %s) = %q, %v; want %q", name, ask, r, err, v)
				}
			}
		}
	}
	_, err = s.Resolve(ctx, "cilium", "1.16.99")
	wantField(t, err, FieldVersion, "1.16.99", "nearest available")
	_, err = s.Versions(ctx, "flannel")
	wantField(t, err, FieldSource, "flannel", "cilium")
}

func TestResolveCalicoWithoutThePrefix(t *testing.T) {
	s := mustSource(t, charttest.Dir(t))
	ctx := context.Background()
	list, err := s.Versions(ctx, "tigera-operator")
	if err != nil {
		t.Fatal(err)
	}
	want := list[len(list)-1]
	c, err := s.Load(ctx, "tigera-operator", strings.TrimPrefix(want, "v"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Version() != want || c.Name() != "tigera-operator" {
		t.Errorf("loaded %s %s, want tigera-operator %s", c.Name(), c.Version(), want)
	}
}

func TestHTTPSRepository(t *testing.T) {
	dir := charttest.Dir(t)
	srv := charttest.ServeTLS(t, dir)
	ctx := context.Background()
	local := mustSource(t, dir)
	want, err := local.Versions(ctx, "cilium")
	if err != nil {
		t.Fatal(err)
	}

	s := mustSource(t, srv.URL+"/", WithTransport(srv.Client().Transport.(*http.Transport)))
	got, err := s.Versions(ctx, "cilium")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("https versions %v, folder versions %v", got, want)
	}
	c, err := s.Load(ctx, "cilium", want[0])
	if err != nil {
		t.Fatal(err)
	}
	if c.Version() != want[0] || !strings.HasPrefix(c.Origin, srv.URL) {
		t.Errorf("loaded %s from %s", c.Version(), c.Origin)
	}
	_, err = s.Load(ctx, "cilium", "9.9.9")
	wantField(t, err, FieldVersion, want[len(want)-1])

	// Without trusting the test CA the repository must be refused.
	untrusted := mustSource(t, srv.URL)
	if _, err := untrusted.Versions(ctx, "cilium"); err == nil || config.Fields(err) != nil ||
		!strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted https repository: err = %v, want a certificate error", err)
	} else if !strings.HasPrefix(err.Error(), FieldChartSource+": ") || !strings.Contains(err.Error(), "(fix: ") {
		t.Errorf("untrusted https repository: %q names neither the field nor the fix", err)
	}
}

func TestDigestMismatchIsRefused(t *testing.T) {
	dir := charttest.Dir(t)
	tmp := t.TempDir()
	idx, err := repo.LoadIndexFile(filepath.Join(dir, "index.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cv := idx.Entries["cilium"][0]
	data, err := os.ReadFile(filepath.Join(dir, cv.URLs[0]))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, cv.URLs[0]), data, 0o644); err != nil {
		t.Fatal(err)
	}
	cv.Digest = strings.Repeat("0", 64)
	idx.Entries = map[string]repo.ChartVersions{"cilium": {cv}}
	if err := idx.WriteFile(filepath.Join(tmp, "index.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = mustSource(t, tmp).Load(context.Background(), "cilium", cv.Version)
	if err == nil || !strings.Contains(err.Error(), "does not match the index digest") {
		t.Fatalf("tampered archive: err = %v", err)
	}
}

func TestArchiveSource(t *testing.T) {
	dir := charttest.Dir(t)
	archive := filepath.Join(dir, "cilium-1.16.19.tgz")
	if _, err := os.Stat(archive); err != nil {
		// Any cilium archive will do; take the first from the index.
		idx, _ := repo.LoadIndexFile(filepath.Join(dir, "index.yaml"))
		archive = filepath.Join(dir, idx.Entries["cilium"][0].URLs[0])
	}
	s := mustSource(t, archive)
	ctx := context.Background()
	vs, err := s.Versions(ctx, "cilium")
	if err != nil || len(vs) != 1 {
		t.Fatalf("archive versions = %v, %v", vs, err)
	}
	if _, err := s.Load(ctx, "cilium", "v"+vs[0]); err != nil {
		t.Fatal(err)
	}
	_, err = s.Load(ctx, "cilium", "0.0.1")
	wantField(t, err, FieldVersion, vs[0])
	_, err = s.Versions(ctx, "tigera-operator")
	wantField(t, err, FieldSource, "tigera-operator")
}

func ciliumChart(t testing.TB) *Chart {
	dir := charttest.Dir(t)
	s, err := NewSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := s.Versions(context.Background(), "cilium")
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Load(context.Background(), "cilium", vs[0])
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Helm's offline default Kubernetes version (1.20) fails the Cilium charts'
// kubeVersion constraint: this is why Render insists on a version.
func TestRenderNeedsTheKubernetesVersion(t *testing.T) {
	c := ciliumChart(t)
	if c.KubeVersion() == "" {
		t.Skip("this cilium chart declares no kubeVersion")
	}

	// What a plain `helm template` does without --kube-version.
	naive := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	naive.DryRun, naive.ClientOnly, naive.ReleaseName, naive.Namespace = true, true, "cilium", "kube-system"
	_, err := naive.Run(c.c, map[string]any{})
	def := chartutil.DefaultCapabilities.KubeVersion.String()
	if err == nil || !strings.Contains(err.Error(), "incompatible with Kubernetes "+def) {
		t.Fatalf("rendering with Helm's default %s: err = %v, want the kubeVersion failure", def, err)
	}

	ctx := context.Background()
	_, err = Render(ctx, c, nil, RenderOptions{ReleaseName: "cilium", Namespace: "kube-system"})
	wantField(t, err, FieldKubernetesVersion, "--kubernetes-version")
	_, err = Render(ctx, c, nil, RenderOptions{ReleaseName: "cilium", Namespace: "kube-system", KubeVersion: def})
	wantField(t, err, FieldKubernetesVersion, c.KubeVersion())
	_, err = Render(ctx, c, nil, RenderOptions{ReleaseName: "cilium", Namespace: "kube-system", KubeVersion: "one-thirty"})
	wantField(t, err, FieldKubernetesVersion, "one-thirty")

	objs, err := Render(ctx, c, nil, RenderOptions{ReleaseName: "cilium", Namespace: "kube-system", KubeVersion: kube})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) == 0 {
		t.Fatal("no objects rendered")
	}
}

func TestRenderOrderAndRelease(t *testing.T) {
	dir := charttest.Dir(t)
	s := mustSource(t, dir)
	ctx := context.Background()
	vs, err := s.Versions(ctx, "tigera-operator")
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Load(ctx, "tigera-operator", vs[0])
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Render(ctx, c, nil, RenderOptions{ReleaseName: "calico", Namespace: "kube-system", KubeVersion: kube})
	if err != nil {
		t.Fatal(err)
	}
	kinds := make([]string, len(objs))
	for i, o := range objs {
		kinds[i] = o.GetKind()
	}
	lastCRD := slices.Index(kinds, "CustomResourceDefinition")
	for i, k := range kinds {
		if k == "CustomResourceDefinition" {
			lastCRD = i
		}
	}
	if lastCRD < 0 {
		t.Fatalf("no CRDs rendered from the chart's crds/ folder: %v", kinds)
	}
	for _, k := range kinds[:lastCRD+1] {
		if k != "CustomResourceDefinition" {
			t.Fatalf("%s rendered among the CRDs; CRDs must come first: %v", k, kinds)
		}
	}
	sa, dep := slices.Index(kinds, "ServiceAccount"), slices.Index(kinds, "Deployment")
	if sa < 0 || dep < 0 || sa > dep {
		t.Errorf("ServiceAccount at %d, Deployment at %d: want Helm's install order", sa, dep)
	}
	for _, o := range objs {
		if o.GetKind() == "Deployment" && o.GetNamespace() != "kube-system" {
			t.Errorf("Deployment %s in namespace %q, want the release namespace", o.GetName(), o.GetNamespace())
		}
		if hook := o.GetAnnotations()["helm.sh/hook"]; hook != "" && !strings.Contains(hook, "install") {
			t.Errorf("%s %s is a %s hook, which install does not apply", o.GetKind(), o.GetName(), hook)
		}
	}

	noCRDs, err := Render(ctx, c, nil, RenderOptions{ReleaseName: "calico", Namespace: "kube-system", KubeVersion: kube, SkipCRDs: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(noCRDs) != len(objs)-(lastCRD+1) {
		t.Errorf("SkipCRDs rendered %d objects, want %d", len(noCRDs), len(objs)-(lastCRD+1))
	}
}

func TestMergeValuesFilesIsHelmsMerge(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := map[string]any{
		"ipam":   map[string]any{"mode": "cluster-pool", "operator": map[string]any{"clusterPoolIPv4MaskSize": 25}},
		"envoy":  map[string]any{"enabled": false},
		"labels": []any{"a", "b"},
	}
	one := write("one.yaml", "ipam:\n  operator:\n    clusterPoolIPv4MaskSize: 26\nlabels: [c]\n")
	two := write("two.yaml", "envoy:\n  enabled: true\n  log: {level: debug}\n")
	got, err := MergeValuesFiles(base, []string{one, two})
	if err != nil {
		t.Fatal(err)
	}
	ipam := got["ipam"].(map[string]any)
	if ipam["mode"] != "cluster-pool" || ipam["operator"].(map[string]any)["clusterPoolIPv4MaskSize"] != float64(26) {
		t.Errorf("maps did not merge key by key: %v", ipam)
	}
	if l := got["labels"].([]any); len(l) != 1 || l[0] != "c" {
		t.Errorf("lists must be replaced, got %v", l)
	}
	if e := got["envoy"].(map[string]any); e["enabled"] != true || e["log"] == nil {
		t.Errorf("later files must win: %v", e)
	}
	if base["envoy"].(map[string]any)["enabled"] != false || base["ipam"].(map[string]any)["operator"].(map[string]any)["clusterPoolIPv4MaskSize"] != 25 {
		t.Errorf("base was modified: %v", base)
	}

	bad := write("bad.yaml", "ipam: [\n")
	_, err = MergeValuesFiles(base, []string{one, bad})
	wantField(t, err, "cni.valuesFiles[1]")
	_, err = MergeValuesFiles(base, []string{filepath.Join(dir, "missing.yaml")})
	wantField(t, err, "cni.valuesFiles[0]")
}

func TestDecodeAndEncodeRoundTrip(t *testing.T) {
	in := "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: \"1\"\n---\n# only a comment\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: b\nspec:\n  ports:\n  - port: 53\n"
	objs, err := Decode(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 || objs[0].GetName() != "a" || objs[1].GetKind() != "Service" {
		t.Fatalf("decoded %v", objs)
	}
	var b strings.Builder
	if err := Encode(&b, objs); err != nil {
		t.Fatal(err)
	}
	again, err := Decode(strings.NewReader(b.String()))
	if err != nil || len(again) != 2 || again[1].Object["spec"].(map[string]any)["ports"].([]any)[0].(map[string]any)["port"] != int64(53) {
		t.Fatalf("round trip: %v %v", again, err)
	}
	if _, err := Decode(strings.NewReader("kind: [\n")); err == nil {
		t.Error("broken YAML decoded without error")
	}
}
