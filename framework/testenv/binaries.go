package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Versions of the API tier. They must match the tools modules (a unit test
// checks it): hack/apitier-build.sh builds the newest tools/k8s/<version>,
// the etcd its kubeadm asks for (tools/k8s/<version>/etcd-version: the node
// image's etcd too) and tools/apitier/kwok, from the binary cache the offline
// node image shares, and names the cache folder after them.
const (
	KubeVersion = "v1.37.2"
	EtcdVersion = "v3.7.0"
	KwokVersion = "v0.8.0"
)

// MakeTarget builds the binaries into the cache.
const MakeTarget = "make apitier"

// Environment variables read by FindBinaries.
const (
	// EnvBinDir points at a folder holding all five binaries.
	EnvBinDir = "HYBRIDCNI_APITIER_BIN"
	// EnvCache overrides the cache root (default $HOME/.cache/hybridcni).
	EnvCache = "HYBRIDCNI_CACHE"
)

// Component names; also the binary names.
const (
	Etcd                  = "etcd"
	KubeAPIServer         = "kube-apiserver"
	KubeControllerManager = "kube-controller-manager"
	KubeScheduler         = "kube-scheduler"
	Kwok                  = "kwok"
)

var binaries = []string{Etcd, KubeAPIServer, KubeControllerManager, KubeScheduler, Kwok}

// ErrBinariesMissing is wrapped by FindBinaries when the tier is not built.
var ErrBinariesMissing = errors.New("API tier binaries not found")

// DefaultBinDir is where hack/apitier-build.sh puts the binaries.
func DefaultBinDir() (string, error) {
	root := os.Getenv(EnvCache)
	if root == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no cache folder: set %s or HOME: %w", EnvCache, err)
		}
		root = filepath.Join(home, ".cache", "hybridcni")
	}
	return filepath.Join(root, "apitier", KubeVersion+"-"+EtcdVersion+"-"+KwokVersion, "bin"), nil
}

// FindBinaries returns the folder holding etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok: $HYBRIDCNI_APITIER_BIN if
// set, else the build cache. The error wraps ErrBinariesMissing and names
// the make target when something is absent.
func FindBinaries() (string, error) {
	dir, from := os.Getenv(EnvBinDir), EnvBinDir
	if dir == "" {
		d, err := DefaultBinDir()
		if err != nil {
			return "", err
		}
		dir, from = d, "cache"
	}
	if err := checkBinDir(dir); err != nil {
		return "", fmt.Errorf("%w: %v (%s); run `%s` or set %s", ErrBinariesMissing, err, from, MakeTarget, EnvBinDir)
	}
	return dir, nil
}

func checkBinDir(dir string) error {
	for _, b := range binaries {
		p := filepath.Join(dir, b)
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("no %s", p)
		}
		if st.IsDir() || st.Mode()&0o111 == 0 {
			return fmt.Errorf("%s is not an executable file", p)
		}
	}
	return nil
}
