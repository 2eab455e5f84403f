package topologies

import (
	"archive/tar"
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"

	"github.com/hybridcni/hybridcni/framework/docker"
)

// gcRootfs is a one-file root filesystem: enough for `docker import`.
func gcRootfs(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	body := []byte("gc test\n")
	if err := tw.WriteHeader(&tar.Header{Name: "gc-test", Mode: 0o644, Size: int64(len(body)), ModTime: time.Now()}); err != nil {
		t.Fatal(err)
	}
	tw.Write(body)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// gcImage imports a labelled image (ref "": dangling) and removes it at
// the end of the test.
func gcImage(t *testing.T, dc *docker.Client, ref string, labels ...string) string {
	t.Helper()
	ctx := context.Background()
	changes := make([]string, len(labels))
	for i, l := range labels {
		changes[i] = "LABEL " + l
	}
	id, err := dc.ImportImage(ctx, bytes.NewReader(gcRootfs(t)), ref, changes)
	if err != nil || id == "" {
		t.Fatalf("import %q: id %q, %v", ref, id, err)
	}
	t.Cleanup(func() {
		_, _ = dc.API().ImageRemove(context.Background(), id, image.RemoveOptions{Force: true, PruneChildren: true})
	})
	return id
}

// gcContainer creates a container (never started: stopped) from an image.
func gcContainer(t *testing.T, dc *docker.Client, name, img string, labels map[string]string) {
	t.Helper()
	if _, err := dc.API().ContainerCreate(context.Background(), &container.Config{Image: img, Cmd: []string{"/gc-test"}, Labels: labels}, nil, nil, nil, name); err != nil {
		t.Fatalf("create container %s: %v", name, err)
	}
	t.Cleanup(func() { _ = dc.RemoveContainer(context.Background(), name) })
}

// GC with --older-than 0 removes our dangling images and harness images
// of another version, and the image of a container it removes itself; it
// keeps the current version's, unlabelled ones, and one a stopped
// container uses. The sweep is scoped to this test's images (imageLabel)
// and run, so images and runs of parallel tests stay.
func TestGCDockerRemovesStaleImages(t *testing.T) {
	dc := dockerTier(t)
	ctx := context.Background()
	run := UniqueName("gctest")
	suffix := strings.TrimPrefix(run, NamePrefix)
	scope := "gctest.scope=" + suffix // not one of our labels
	repo := "hybridcni/" + suffix
	const current, oldVersion = "gc-current", "0000000-old"
	harness := "hybridcni.dev/component=test"

	oldRef := repo + "/echo:" + oldVersion
	curRef := repo + "/echo:" + current
	plainRef := repo + "/plain:" + oldVersion
	usedRef := repo + "/used:" + oldVersion
	goneRef := repo + "/gone:" + oldVersion
	gcImage(t, dc, oldRef, harness, scope, "gctest.n=1")
	gcImage(t, dc, curRef, harness, scope, "gctest.n=2")
	gcImage(t, dc, plainRef, scope, "gctest.n=3")
	dangling := gcImage(t, dc, "", harness, scope, "gctest.n=4")
	plainDangling := gcImage(t, dc, "", scope, "gctest.n=5")
	gcImage(t, dc, usedRef, harness, scope, "gctest.n=6")
	gcImage(t, dc, goneRef, harness, scope, "gctest.n=7")
	gcContainer(t, dc, run+"-used", usedRef, nil)
	gcContainer(t, dc, run+"-gone", goneRef, map[string]string{LabelRun: run})

	o := GCOptions{OlderThan: 0, Run: run, DryRun: true, Version: current, imageLabel: scope}
	names := func(es []Entry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Kind+" "+e.Name)
		}
		slices.Sort(out)
		return out
	}
	want := []string{"container " + run + "-gone", "image " + shortID(dangling), "image " + goneRef, "image " + oldRef}
	slices.Sort(want)
	found, err := GC(ctx, dc, o, WithLogf(t.Logf))
	if err != nil {
		t.Fatal(err)
	}
	if got := names(found); !slices.Equal(got, want) {
		t.Fatalf("dry run lists %q\nwant %q", got, want)
	}
	for _, ref := range []string{oldRef, dangling, goneRef} {
		if ok, _ := dc.ImageExists(ctx, ref); !ok {
			t.Fatalf("dry run removed %s", ref)
		}
	}

	o.DryRun = false
	removed, err := GC(ctx, dc, o, WithLogf(t.Logf))
	if err != nil {
		t.Fatal(err)
	}
	if got := names(removed); !slices.Equal(got, want) {
		t.Fatalf("removed %q\nwant %q", got, want)
	}
	for ref, keep := range map[string]bool{
		oldRef: false, dangling: false, goneRef: false,
		curRef: true, plainRef: true, plainDangling: true, usedRef: true,
	} {
		ok, err := dc.ImageExists(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		if ok != keep {
			t.Errorf("image %s: present %v, want %v", ref, ok, keep)
		}
	}
}
