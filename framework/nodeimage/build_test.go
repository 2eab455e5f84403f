package nodeimage_test

import (
	"os"
	"path/filepath"
	"testing"

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
