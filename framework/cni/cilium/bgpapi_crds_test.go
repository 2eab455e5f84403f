package cilium

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// ModuleVersions are the Cilium versions the offline tier builds, one per
// row of BGPAPIs, whose modules' CRDs the tests read.
var ModuleVersions = OfflineVersions

// ModuleBGPCRDs are the BGP CRDs of the github.com/cilium/cilium module at
// version, from the Go module cache (pkg/k8s/apis/cilium.io/client/crds, as
// its operator registers them). t skips, saying why, when the module is not
// in the cache (hack/cilium-image.sh, or `go mod download
// github.com/cilium/cilium@v<version>`, puts it there).
func ModuleBGPCRDs(t testing.TB, version string) []*unstructured.Unstructured {
	t.Helper()
	dir := filepath.Join(moduleDir(t, version), "pkg", "k8s", "apis", "cilium.io", "client", "crds")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("Cilium %s CRDs: module not in the Go module cache (%s); `go mod download github.com/cilium/cilium@v%s` fetches it", version, dir, version)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.yaml"))
	var out []*unstructured.Unstructured
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(data, &m); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		u := &unstructured.Unstructured{Object: m}
		kind, _, _ := unstructured.NestedString(m, "spec", "names", "kind")
		if u.GetKind() == "CustomResourceDefinition" && slices.Contains(AllBGPKinds, kind) {
			out = append(out, u)
		}
	}
	if len(out) == 0 {
		t.Fatalf("Cilium %s: no BGP CRD under %s", version, dir)
	}
	return out
}

// ServedOf reads how a CRD serves its kind: served versions, the stored one
// first, and the deprecated ones.
func ServedOf(t testing.TB, crd *unstructured.Unstructured) (kind string, s BGPServed) {
	t.Helper()
	kind, _, _ = unstructured.NestedString(crd.Object, "spec", "names", "kind")
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	for _, v := range versions {
		m := v.(map[string]any)
		name, _ := m["name"].(string)
		if served, _ := m["served"].(bool); !served {
			continue
		}
		if storage, _ := m["storage"].(bool); storage {
			s.Versions = append([]string{name}, s.Versions...)
		} else {
			s.Versions = append(s.Versions, name)
		}
		if dep, _ := m["deprecated"].(bool); dep {
			s.Deprecated = append(s.Deprecated, name)
		}
	}
	return kind, s
}

// moduleDir is where the Go module cache keeps github.com/cilium/cilium@v<version>.
func moduleDir(t testing.TB, version string) string {
	t.Helper()
	cache := os.Getenv("GOMODCACHE")
	if cache == "" {
		if out, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
			cache = strings.TrimSpace(string(out))
		}
	}
	return filepath.Join(cache, "github.com", "cilium", "cilium@v"+version)
}
