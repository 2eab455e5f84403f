package topologies

import (
	"bytes"
	"context"
	"testing"

	"github.com/docker/docker/api/types/image"
)

// Saving and loading keeps an image whole: the air-gapped path of
// `hybridcni images save` / `load`.
func TestImagesSaveLoadRoundTrip(t *testing.T) {
	dc := dockerTier(t)
	_, imgs := harness(t, dc)
	ctx := context.Background()
	ref := "hybridcni/roundtrip:" + UniqueName("x")[len(NamePrefix):]
	if err := dc.API().ImageTag(ctx, imgs.Router, ref); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dc.API().ImageRemove(context.Background(), ref, image.RemoveOptions{}) })
	var tar bytes.Buffer
	if err := dc.SaveImages(ctx, []string{ref}, &tar); err != nil {
		t.Fatal(err)
	}
	if _, err := dc.API().ImageRemove(ctx, ref, image.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := dc.ImageExists(ctx, ref); ok {
		t.Fatalf("%s still there after removal", ref)
	}
	if err := dc.LoadImages(ctx, bytes.NewReader(tar.Bytes())); err != nil {
		t.Fatal(err)
	}
	if ok, err := dc.ImageExists(ctx, ref); !ok || err != nil {
		t.Fatalf("%s not back after load: %v", ref, err)
	}
	if err := dc.LoadImages(ctx, bytes.NewReader([]byte("not a tar"))); err == nil {
		t.Fatal("loading garbage succeeded")
	}
}
