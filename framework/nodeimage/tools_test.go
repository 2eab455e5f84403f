package nodeimage

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Every tools/k8s/<version> pins what its kubeadm asks for: the etcd in its
// etcd-version (tools/etcd/<that>) and a tools/coredns/<CoreDNSVersion>,
// read from the version's own cmd/kubeadm/app/constants, as
// hack/node-image.sh reads them to tag the preloaded images. A version
// whose module is not in the Go module cache skips, naming it.
func TestToolsModulesPinWhatKubeadmAsksFor(t *testing.T) {
	dirs, err := filepath.Glob("../../tools/k8s/v*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no tools/k8s/<version> modules (%v)", err)
	}
	modcache := os.Getenv("GOMODCACHE")
	if modcache == "" {
		out, err := exec.Command("go", "env", "GOMODCACHE").Output()
		if err != nil {
			t.Skipf("go env GOMODCACHE: %v", err)
		}
		modcache = strings.TrimSpace(string(out))
	}
	for _, dir := range dirs {
		version := filepath.Base(dir)
		t.Run(version, func(t *testing.T) {
			gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
			if err != nil {
				t.Fatal(err)
			}
			if m := regexp.MustCompile(`(?m)^require k8s.io/kubernetes (v\S+)`).FindSubmatch(gomod); m == nil || string(m[1]) != version {
				t.Fatalf("tools/k8s/%s/go.mod requires k8s.io/kubernetes %q", version, m)
			}
			src := filepath.Join(modcache, "k8s.io", "kubernetes@"+version, "cmd", "kubeadm", "app", "constants", "constants.go")
			constants, err := os.ReadFile(src)
			if err != nil {
				t.Skipf("k8s.io/kubernetes %s is not in the Go module cache (%v): `cd tools/k8s/%s && go mod download k8s.io/kubernetes`", version, err, version)
			}
			get := func(name string) string {
				m := regexp.MustCompile(`(?m)^\s*` + name + ` = "([^"]+)"$`).FindSubmatch(constants)
				if m == nil {
					t.Fatalf("no %s in %s", name, src)
				}
				return string(m[1])
			}
			etcd, err := os.ReadFile(filepath.Join(dir, "etcd-version"))
			if err != nil {
				t.Fatal(err)
			}
			pinned := strings.TrimSpace(string(etcd))
			if want := get("DefaultEtcdVersion"); strings.TrimPrefix(pinned, "v")+"-0" != want {
				t.Errorf("etcd-version is %s, kubeadm %s asks for etcd %s", pinned, version, want)
			}
			if _, err := os.Stat(filepath.Join("../../tools/etcd", pinned, "go.mod")); err != nil {
				t.Errorf("no tools/etcd/%s: %v", pinned, err)
			}
			coredns := get("CoreDNSVersion")
			cd, err := os.ReadFile(filepath.Join("../../tools/coredns", coredns, "go.mod"))
			if err != nil {
				t.Fatalf("kubeadm %s asks for CoreDNS %s: no tools/coredns/%s (%v)", version, coredns, coredns, err)
			}
			if !regexp.MustCompile(`(?m)^require github.com/coredns/coredns ` + regexp.QuoteMeta(coredns) + `$`).Match(cd) {
				t.Errorf("tools/coredns/%s/go.mod does not require github.com/coredns/coredns %s", coredns, coredns)
			}
			t.Logf("kubeadm %s: pause %s, etcd %s, CoreDNS %s", version, get("PauseVersion"), pinned, coredns)
			corefile, err := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(src)), "phases", "addons", "dns", "manifests.go"))
			if err != nil {
				t.Fatal(err)
			}
			used := corefilePlugins(corefile)
			if len(used) == 0 {
				t.Fatalf("no plugins read from kubeadm %s's Corefile (its CoreDNSConfigMap changed shape: mend corefilePlugins and hack/node-image.sh)", version)
			}
			have, err := registeredPlugins(filepath.Join(modcache, "github.com", "coredns", "coredns@"+coredns))
			if err != nil {
				t.Skipf("CoreDNS %s is not in the Go module cache (%v): `cd tools/coredns/%s && go mod download github.com/coredns/coredns`", coredns, err, coredns)
			}
			for _, p := range used {
				if !have[p] {
					t.Errorf("kubeadm %s's Corefile uses the CoreDNS plugin %s, which hack/nodeimage/coredns/main.go does not import (it has %v): import it there", version, p, slices.Sorted(maps.Keys(have)))
				}
			}
		})
	}
}

// corefilePlugins is the first word of each directive in the Corefile of
// kubeadm's CoreDNS ConfigMap manifest (cmd/kubeadm/app/phases/addons/dns),
// as hack/node-image.sh reads it.
func corefilePlugins(manifests []byte) []string {
	var out []string
	on := false
	for _, line := range strings.Split(string(manifests), "\n") {
		switch {
		case strings.Contains(line, "Corefile: |"):
			on = true
		case on && strings.HasPrefix(line, "`"):
			return out
		case on && len(line) > 8 && strings.TrimLeft(line, " ") == line[8:] && line[8] >= 'a' && line[8] <= 'z':
			out = append(out, strings.Fields(line)[0])
		}
	}
	return out
}

// registeredPlugins is the directive names the plugin packages imported by
// hack/nodeimage/coredns/main.go register (plugin.Register("name", ...))
// in the CoreDNS module at dir.
func registeredPlugins(dir string) (map[string]bool, error) {
	main, err := os.ReadFile("../../hack/nodeimage/coredns/main.go")
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	// plugin.Register("name", ...), or plugin.Register(pluginName, ...)
	// with const pluginName = "name" in the package.
	register := regexp.MustCompile(`plugin\.Register\((?:"([a-z0-9_]+)"|(pluginName))`)
	constant := regexp.MustCompile(`pluginName\s*=\s*"([a-z0-9_]+)"`)
	for _, m := range regexp.MustCompile(`"github.com/coredns/coredns/plugin/([a-z0-9_]+)"`).FindAllSubmatch(main, -1) {
		files, err := filepath.Glob(filepath.Join(dir, "plugin", string(m[1]), "*.go"))
		if err != nil || len(files) == 0 {
			return nil, fmt.Errorf("no plugin/%s in %s", m[1], dir)
		}
		var pkg []byte
		for _, f := range files {
			src, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			pkg = append(pkg, src...)
		}
		for _, r := range register.FindAllSubmatch(pkg, -1) {
			name := r[1]
			if r[2] != nil {
				c := constant.FindSubmatch(pkg)
				if c == nil {
					return nil, fmt.Errorf("plugin/%s registers pluginName, which it does not define", m[1])
				}
				name = c[1]
			}
			have[string(name)] = true
		}
	}
	return have, nil
}
