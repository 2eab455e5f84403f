package image

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hybridcni/hybridcni/framework/docker"
)

func TestRefAndSpecs(t *testing.T) {
	if got := Ref("router", "v1.2.3"); got != "hybridcni/router:v1.2.3" {
		t.Fatalf("Ref = %q", got)
	}
	names := map[string]string{}
	for _, s := range All {
		names[s.Name] = strings.Join(s.Args, " ")
	}
	if names["router"] != "router" || names["echo"] != "echo" {
		t.Fatalf("images and their subcommands = %v, want router->router, echo->echo", names)
	}
}

func TestBadInputNamesFieldBeforeAnything(t *testing.T) {
	// No engine needed: validation comes first (Docker is nil here).
	b := &Builder{Binary: "/nonexistent", Version: "v1"}
	if _, err := b.Build(context.Background(), Spec{Name: "Router!"}); err == nil || !strings.Contains(err.Error(), `name "Router!"`) {
		t.Fatalf("want an error naming the image name, got %v", err)
	}
	b.Version = "bad tag"
	if _, err := b.Build(context.Background(), Router); err == nil || !strings.Contains(err.Error(), `version "bad tag"`) {
		t.Fatalf("want an error naming the version, got %v", err)
	}
	b.Version = "v1"
	if _, err := b.Build(context.Background(), Router); err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
		t.Fatalf("want an error telling how to build the binary, got %v", err)
	}
}

func TestCheckStaticRefusesDynamicBinary(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh to use as a dynamically linked binary")
	}
	sh, _ = filepath.EvalSymlinks(sh)
	err = CheckStatic(sh)
	if err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
		t.Fatalf("CheckStatic(%s) = %v, want refusal telling to build with CGO_ENABLED=0", sh, err)
	}
}

// staticBinary builds the static hybridcni (cached between runs).
func staticBinary(t *testing.T) string {
	t.Helper()
	bin, err := CachedBinary(context.Background(), "hybridcni-image-test", "imagetest")
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// Docker tier: both images are built, carry the entrypoint and labels, and
// a rebuild with the same binary is a no-op.
func TestBuildImages(t *testing.T) {
	ctx := context.Background()
	dc := dockerTier(t)
	bin := staticBinary(t)
	if err := CheckStatic(bin); err != nil {
		t.Fatalf("CGO_ENABLED=0 build is not static: %v", err)
	}
	b := &Builder{Docker: dc, Binary: bin, Version: "imagetest", Logf: t.Logf}
	for _, s := range All {
		img, err := b.Build(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		labels, ok, err := dc.ImageLabels(ctx, img.Ref)
		if err != nil || !ok {
			t.Fatalf("%s not present after build (%v)", img.Ref, err)
		}
		if labels["hybridcni.dev/component"] != s.Name || labels["hybridcni.dev/version"] != "imagetest" || len(labels["hybridcni.dev/binary-sha256"]) != 64 {
			t.Fatalf("%s labels = %v", img.Ref, labels)
		}
		ep, err := dc.ImageEntrypoint(ctx, img.Ref)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(ep, " ") != BinaryPath+" "+strings.Join(s.Args, " ") {
			t.Fatalf("%s entrypoint = %v, want [%s %s]", img.Ref, ep, BinaryPath, strings.Join(s.Args, " "))
		}
		again, err := b.Build(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if again.Fresh {
			t.Fatalf("%s rebuilt although the binary is unchanged", img.Ref)
		}
	}
}

// A rebuild with a different binary removes the image it replaces, so test
// and CI runs leave no dangling images behind.
func TestRebuildRemovesTheReplacedImage(t *testing.T) {
	ctx := context.Background()
	dc := dockerTier(t)
	bin := staticBinary(t)
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "hybridcni")
	// Trailing bytes change the digest and leave a valid static ELF.
	if err := os.WriteFile(other, append(data, []byte("rebuild")...), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := Spec{Name: "replacetest", Args: []string{"echo"}}
	first, err := (&Builder{Docker: dc, Binary: bin, Version: "imagetest", Logf: t.Logf}).Build(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dc.RemoveImage(context.Background(), first.Ref) })
	oldID, _, _ := dc.ImageID(ctx, first.Ref)
	second, err := (&Builder{Docker: dc, Binary: other, Version: "imagetest", Logf: t.Logf}).Build(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	newID, _, _ := dc.ImageID(ctx, second.Ref)
	if newID == oldID {
		t.Fatalf("a different binary did not make a new image (%s)", newID)
	}
	if _, ok, err := dc.ImageID(ctx, oldID); err != nil || ok {
		t.Fatalf("the replaced image %s is still there (%v)", oldID, err)
	}
}

// dockerTier connects to the engine (starting one when it can) or skips
// with one line; the client is closed when the test ends.
func dockerTier(t *testing.T) *docker.Client {
	t.Helper()
	if testing.Short() || os.Getenv("HYBRIDCNI_UNIT_ONLY") != "" {
		t.Skip("Docker tier: skipped: -short or HYBRIDCNI_UNIT_ONLY")
	}
	dc, err := Engine(context.Background())
	if err != nil {
		t.Skipf("Docker tier: skipped: %v", err)
	}
	t.Log("Docker tier: running") // for the tier summary of make test
	t.Cleanup(func() { dc.Close() })
	return dc
}
