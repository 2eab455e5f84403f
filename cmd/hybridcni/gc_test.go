package main

import (
	"archive/tar"
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/image"
)

// `gc --dry-run` lists a dangling image carrying our labels as kind
// "image" with its short id, and removes nothing; with --run it leaves
// images alone.
func TestGCDryRunListsDanglingImages(t *testing.T) {
	dc := dockerOrSkip(t)
	ctx := context.Background()
	var rootfs bytes.Buffer
	tw := tar.NewWriter(&rootfs)
	if err := tw.WriteHeader(&tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	tw.Close()
	id, err := dc.ImportImage(ctx, &rootfs, "", []string{"LABEL hybridcni.dev/component=gc-cli-test", "LABEL gctest.name=" + t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = dc.API().ImageRemove(context.Background(), id, image.RemoveOptions{Force: true})
	})
	short := strings.TrimPrefix(id, "sha256:")[:12]
	line := regexp.MustCompile(`(?m)^image\s+` + short + `\s+\d{4}-\d\d-\d\dT`)

	var out, errOut bytes.Buffer
	if code := execute([]string{"gc", "--dry-run", "--older-than", "0s"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s%s", code, out.String(), errOut.String())
	}
	if !strings.HasPrefix(out.String(), "WOULD REMOVE") || !line.MatchString(out.String()) {
		t.Fatalf("dry run does not list image %s:\n%s", short, out.String())
	}
	if ok, err := dc.ImageExists(ctx, id); !ok || err != nil {
		t.Fatalf("dry run removed %s (%v)", short, err)
	}

	out.Reset()
	if code := execute([]string{"gc", "--dry-run", "--older-than", "0s", "--run", "hcni-gc-cli-test-none"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s%s", code, out.String(), errOut.String())
	}
	if strings.Contains(out.String(), "image ") {
		t.Fatalf("--run listed images:\n%s", out.String())
	}
}
