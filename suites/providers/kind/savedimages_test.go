package kind

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/image"

	"github.com/hybridcni/hybridcni/framework/docker"
)

// The echo image loads first (the cloud side waits for it); with a CNI
// image local, the install version's load comes next; a run without any
// CNI image local loads nothing more and its install waits for nothing;
// the hops always come last, in one batch.
func TestLoadStepsPutTheHarnessThenTheInstallVersionFirst(t *testing.T) {
	echo := &savedImages{refs: []string{"hybridcni/echo:dev"}}
	ahead := &savedImages{refs: []string{"cilium:v1.16.19"}}
	ready, steps := loadSteps("1.16.19", echo, ahead, chain)
	if len(ready) != 0 || len(steps) != 3 || steps[0].version != harnessStep || steps[0].saved != echo ||
		steps[1].version != "1.16.19" || steps[1].saved != ahead ||
		steps[2].version != chain[len(chain)-1].version || len(steps[2].refs) != 4 {
		t.Errorf("with the install images local: ready %v, steps %+v", ready, steps)
	}
	ready, steps = loadSteps("1.16.19", echo, nil, nil)
	if len(ready) != 1 || ready[0] != "1.16.19" || len(steps) != 1 || steps[0].saved != echo {
		t.Errorf("no CNI image local: ready %v, steps %+v", ready, steps)
	}
	ready, steps = loadSteps("1.16.19", echo, nil, chain)
	if len(ready) != 1 || len(steps) != 2 || steps[1].saved != nil {
		t.Errorf("only the hops' images local: ready %v, steps %+v", ready, steps)
	}
}

// Docker tier: images saved ahead (while the cluster forms) reach the load
// as one whole `docker save` archive, which is gone after the load, after a
// run stopped before it, and after a save that failed, which names the
// images.
func TestSavedImagesLoadAndLeaveNoArchive(t *testing.T) {
	if testing.Short() || os.Getenv("HYBRIDCNI_UNIT_ONLY") != "" {
		t.Skip("Docker tier: skipped: not in -short / unit-only runs")
	}
	ctx := context.Background()
	dc, err := docker.New(ctx)
	if err != nil {
		t.Skip("Docker tier: skipped: " + err.Error())
	}
	t.Log("Docker tier: running") // for the tier summary of make test
	defer dc.Close()
	var b [3]byte
	_, _ = rand.Read(b[:])
	ref := "hybridcni/savetest:" + hex.EncodeToString(b[:])
	var rootfs bytes.Buffer
	tw := tar.NewWriter(&rootfs)
	_ = tw.WriteHeader(&tar.Header{Name: "hello", Mode: 0o644, Size: 5})
	_, _ = tw.Write([]byte("hello"))
	_ = tw.Close()
	if _, err := dc.ImportImage(ctx, &rootfs, ref, nil); err != nil {
		t.Fatalf("import a test image: %v", err)
	}
	t.Cleanup(func() { _, _ = dc.API().ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true}) })

	p := &provider{dc: dc}
	dir := t.TempDir()
	path := filepath.Join(dir, archiveName("1.16.19"))
	var names []string
	err = p.loadArchive(ctx, "test", p.saveImages(ctx, path, []string{ref}), "", func(_, got string, _ func(string, ...any)) error {
		f, err := os.Open(got)
		if err != nil {
			return err
		}
		defer f.Close()
		tr := tar.NewReader(f)
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			names = append(names, h.Name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(names, " "), "manifest.json") {
		t.Errorf("the load got no whole docker save archive: %v", names)
	}
	gone := func(what string) {
		t.Helper()
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("%s: archive %s left (stat: %v)", what, path, err)
		}
	}
	gone("after the load")

	p.saveImages(ctx, path, []string{ref}).discard()
	gone("after a run stopped before the load")

	missing := "hybridcni/savetest:absent"
	err = p.loadArchive(ctx, "test", p.saveImages(ctx, path, []string{missing}), "", func(string, string, func(string, ...any)) error {
		t.Error("loaded a failed save")
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("a failed save: %v, want an error naming %s", err, missing)
	}
	gone("after a failed save")
}
