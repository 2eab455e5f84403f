package kind

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
)

// fakeSaver writes each archive's refs as its content, after the test
// lets it (gate), or fails for refs named in fail.
type fakeSaver struct {
	gate chan struct{}
	fail string
}

func (f fakeSaver) SaveImages(ctx context.Context, refs []string, w io.Writer) error {
	select {
	case <-f.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	if strings.Join(refs, ",") == f.fail {
		return errors.New("no such image")
	}
	_, err := io.WriteString(w, strings.Join(refs, ","))
	return err
}

// Archives are written in order while the caller does other things; a
// load waits for its archive only; an empty set writes nothing; a failed
// save names its images; stop removes the folder.
func TestSaveAhead(t *testing.T) {
	dir := t.TempDir() + "/images"
	gate := make(chan struct{})
	a, err := saveAhead(fakeSaver{gate: gate, fail: "cilium:v1.20.2"}, dir, []string{"echo:dev"}, nil, []string{"cilium:v1.20.2"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := a.archive(cctx, 0); err == nil {
		t.Fatal("the echo archive was ready before its save was let through")
	}
	gate <- struct{}{}
	it, err := a.archive(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(it.path); string(b) != "echo:dev" {
		t.Errorf("echo archive holds %q", b)
	}
	if it, err := a.archive(ctx, 1); err != nil || it.took != 0 {
		t.Errorf("an empty set: %+v, %v; want nothing written", it, err)
	}
	gate <- struct{}{}
	if _, err := a.archive(ctx, 2); err == nil || !strings.Contains(err.Error(), "cilium:v1.20.2") {
		t.Errorf("a failed save: %v; want an error naming its images", err)
	}
	a.stop()
	a.stop() // twice is fine
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the archives' folder is still there after stop: %v", err)
	}
}

// stop cancels a save still running, so teardown does not wait for it.
func TestSaveAheadStopCancels(t *testing.T) {
	a, err := saveAhead(fakeSaver{gate: make(chan struct{})}, t.TempDir()+"/images", []string{"echo:dev"})
	if err != nil {
		t.Fatal(err)
	}
	a.stop()
	if _, err := a.archive(testCtx(t), 0); !errors.Is(err, context.Canceled) {
		t.Errorf("after stop: %v; want the save cancelled", err)
	}
}
