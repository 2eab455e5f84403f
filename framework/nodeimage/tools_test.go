package nodeimage

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
		})
	}
}
