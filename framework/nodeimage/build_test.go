package nodeimage_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/nodeimage"
	"github.com/hybridcni/hybridcni/framework/nodeimage/nodeimagetest"
)

func repoRoot(tb testing.TB) string {
	root, err := filepath.Abs("../..")
	if err != nil {
		tb.Fatal(err)
	}
	return root
}

// BenchmarkNodeImageUpToDate measures `make node-image` when nothing changed
// (the cached path: hash the inputs, compare with the image's label).
func BenchmarkNodeImageUpToDate(b *testing.B) {
	env := nodeimagetest.Require(b)
	for i := 0; i < b.N; i++ {
		tag, err := nodeimage.Build(b.Context(), repoRoot(b), os.Stderr)
		if err != nil || tag != env.Image {
			b.Fatalf("build: %q %v", tag, err)
		}
	}
}

// BenchmarkNodeImageAssemble measures a rebuild from cached binaries and
// root filesystems: component images, preload, load into Docker. (A cold
// build also compiles Kubernetes, etcd, CoreDNS and crictl and runs
// debootstrap; measured at ~25 min on 2 shared cores.)
func BenchmarkNodeImageAssemble(b *testing.B) {
	env := nodeimagetest.Require(b)
	b.Setenv("NODE_IMAGE_FORCE", "1")
	for i := 0; i < b.N; i++ {
		tag, err := nodeimage.Build(b.Context(), repoRoot(b), os.Stderr)
		if err != nil || tag != env.Image {
			b.Fatalf("build: %q %v", tag, err)
		}
	}
}

// BenchmarkCoreDNSColdBuild compiles the CoreDNS of the newest
// tools/coredns/<version> with an empty Go build cache twice, side by side:
// upstream's command (every plugin) and the node image's
// (hack/nodeimage/coredns: kubeadm's Corefile and a few for debugging), and
// reports both times and their ratio. Minutes each, so only with
// HYBRIDCNI_BENCH_COLD=1; the module cache is shared (downloads not timed).
func BenchmarkCoreDNSColdBuild(b *testing.B) {
	if os.Getenv("HYBRIDCNI_BENCH_COLD") != "1" {
		b.Skip("cold builds take minutes each: HYBRIDCNI_BENCH_COLD=1 runs them")
	}
	root := repoRoot(b)
	mods, _ := filepath.Glob(filepath.Join(root, "tools", "coredns", "v*"))
	if len(mods) == 0 {
		b.Fatal("no tools/coredns/<version>")
	}
	sort.Strings(mods)
	mod := mods[len(mods)-1]
	trimmed := b.TempDir()
	for src, dst := range map[string]string{
		filepath.Join(mod, "go.mod"):                                   "go.mod",
		filepath.Join(mod, "go.sum"):                                   "go.sum",
		filepath.Join(root, "hack", "nodeimage", "coredns", "main.go"): "coredns/main.go",
	} {
		data, err := os.ReadFile(src)
		if err != nil {
			b.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(trimmed, filepath.Dir(dst)), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(trimmed, dst), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	cold := func(dir string, args ...string) time.Duration {
		cmd := exec.Command("go", append([]string{"build", "-ldflags", "-s -w", "-o", b.TempDir() + "/"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOCACHE="+b.TempDir(), "GOFLAGS=-mod=readonly -buildvcs=false -trimpath", "GOWORK=off", "CGO_ENABLED=0")
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("go build %v in %s: %v\n%s", args, dir, err, out)
		}
		return time.Since(start)
	}
	for i := 0; i < b.N; i++ {
		full := cold(mod, "github.com/coredns/coredns")
		trim := cold(trimmed, "-tags", "coredns", "./coredns")
		b.Logf("CoreDNS %s cold: every plugin %s, the node image's %s", filepath.Base(mod), full.Round(time.Second), trim.Round(time.Second))
		b.ReportMetric(full.Seconds(), "full-s")
		b.ReportMetric(trim.Seconds(), "trimmed-s")
		b.ReportMetric(trim.Seconds()/full.Seconds(), "trimmed/full")
	}
}
