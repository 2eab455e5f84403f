package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"

	"github.com/hybridcni/hybridcni/framework/docker"
)

// Docker tier: an archive of our pause binary loads into the engine, runs,
// and stops on SIGTERM with exit code 0 (a pause that ignored the signal
// would be killed after the grace period with 137).
func TestPauseImageLoadsRunsAndStops(t *testing.T) {
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

	dir := t.TempDir()
	bin := filepath.Join(dir, "pause")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "../pause")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build pause: %v\n%s", err, out)
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	suffix := hex.EncodeToString(b[:])
	tag := "hcni-imagetool-test/pause:" + suffix
	archive := filepath.Join(dir, "pause.tar")
	if err := writeFile(archive, Spec{Tag: tag, Files: []string{bin + ":/pause"}, Entrypoint: []string{"/pause"}}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := dc.API().ImageLoad(ctx, f)
	if err != nil {
		t.Fatalf("docker load: %v", err)
	}
	out, err := io.ReadAll(resp.Body) // the engine loads while the reply streams
	resp.Body.Close()
	f.Close()
	if err != nil || strings.Contains(string(out), "errorDetail") {
		t.Fatalf("docker load: %v %s", err, out)
	}
	t.Cleanup(func() {
		_, _ = dc.API().ImageRemove(context.Background(), tag, image.RemoveOptions{Force: true, PruneChildren: true})
	})

	name := "hcni-imagetool-" + suffix
	t.Cleanup(func() { _ = dc.RemoveContainer(context.Background(), name) })
	if _, err := dc.RunContainer(ctx, docker.Container{Name: name, Image: tag, Network: "none"}); err != nil {
		t.Fatal(err)
	}
	info, err := dc.API().ContainerInspect(ctx, name)
	if err != nil || !info.State.Running {
		t.Fatalf("pause container not running: %+v %v", info.State, err)
	}
	grace := 10
	start := time.Now()
	if err := dc.API().ContainerStop(ctx, name, container.StopOptions{Timeout: &grace}); err != nil {
		t.Fatal(err)
	}
	info, err = dc.API().ContainerInspect(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.ExitCode != 0 || time.Since(start) > time.Duration(grace)*time.Second {
		t.Fatalf("pause exited with %d after %s, want 0 right after SIGTERM", info.State.ExitCode, time.Since(start))
	}
}
