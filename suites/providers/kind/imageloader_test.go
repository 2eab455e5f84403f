package kind

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/topologies"
)

// fakeLoads is a load function the test drives: each call announces its
// version on started and returns what the test sends on finish (or ctx's
// error when the loader is stopped). It counts the loads running at once.
type fakeLoads struct {
	started chan string
	finish  chan error

	mu              sync.Mutex
	order           []string
	running, maxRun int
}

func newFakeLoads() *fakeLoads {
	return &fakeLoads{started: make(chan string, 10), finish: make(chan error)}
}

func (f *fakeLoads) load(ctx context.Context, v versionImages) error {
	f.mu.Lock()
	f.order = append(f.order, v.version)
	f.running++
	f.maxRun = max(f.maxRun, f.running)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.running--
		f.mu.Unlock()
	}()
	f.started <- v.version
	select {
	case err := <-f.finish:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

var chain = []versionImages{
	{version: "1.17.0", refs: []string{"cilium:v1.17.0", "operator:v1.17.0"}},
	{version: "1.18.0", refs: []string{"cilium:v1.18.0"}},
	{version: "1.19.6", refs: []string{"cilium:v1.19.6"}},
}

// testCtx bounds a test's waits so a broken loader fails the test instead
// of hanging it; the bound decides no pass or fail of a working loader.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// waitAsync runs l.Wait in a goroutine and hands back its result channel.
func waitAsync(ctx context.Context, l *imageLoader, version string) <-chan error {
	res := make(chan error, 1)
	go func() { res <- l.Wait(ctx, version) }()
	return res
}

func recv[T any](t *testing.T, ctx context.Context, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		t.Fatalf("%s: never came", what)
		var zero T
		return zero
	}
}

func notYet(t *testing.T, ch <-chan error, what string) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("%s returned (%v) before its version was loaded", what, err)
	default:
	}
}

func stop(t *testing.T, l *imageLoader) {
	t.Helper()
	if err := l.Stop(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

// (a) A wait for a version returns once that version's load finished, not
// before; the install version is ready at once.
func TestImageLoaderWaitReturnsWhenItsVersionIsLoaded(t *testing.T) {
	ctx := testCtx(t)
	f := newFakeLoads()
	l := startImageLoader([]string{"1.16.19"}, chain, f.load)
	defer stop(t, l)

	if err := l.Wait(ctx, "1.16.19"); err != nil {
		t.Fatalf("install version: %v", err)
	}
	w17 := waitAsync(ctx, l, "1.17.0")
	w18 := waitAsync(ctx, l, "v1.18.0") // a leading v names the same version
	if v := recv(t, ctx, f.started, "load of 1.17.0"); v != "1.17.0" {
		t.Fatalf("first load is %s, want 1.17.0", v)
	}
	notYet(t, w17, "wait for 1.17.0")
	f.finish <- nil
	if err := recv(t, ctx, w17, "wait for 1.17.0"); err != nil {
		t.Fatalf("wait for 1.17.0: %v", err)
	}
	if v := recv(t, ctx, f.started, "load of 1.18.0"); v != "1.18.0" {
		t.Fatalf("second load is %s, want 1.18.0", v)
	}
	notYet(t, w18, "wait for 1.18.0")
	f.finish <- nil
	if err := recv(t, ctx, w18, "wait for 1.18.0"); err != nil {
		t.Fatalf("wait for 1.18.0: %v", err)
	}
	// A version already loaded: at once.
	if err := l.Wait(ctx, "1.17.0"); err != nil {
		t.Fatalf("wait again for 1.17.0: %v", err)
	}
	recv(t, ctx, f.started, "load of 1.19.6")
	f.finish <- nil
	if err := l.Wait(ctx, "1.19.6"); err != nil {
		t.Fatalf("wait for 1.19.6: %v", err)
	}
}

// (b) The versions load in hop order, one at a time.
func TestImageLoaderLoadsInHopOrderOneAtATime(t *testing.T) {
	ctx := testCtx(t)
	f := newFakeLoads()
	l := startImageLoader(nil, chain, f.load)
	for i, want := range chain {
		if v := recv(t, ctx, f.started, "a load"); v != want.version {
			t.Fatalf("load %d is %s, want %s", i+1, v, want.version)
		}
		// The next load cannot have started while this one runs.
		select {
		case v := <-f.started:
			t.Fatalf("%s started while %s was loading", v, want.version)
		default:
		}
		f.finish <- nil
	}
	stop(t, l)
	if got := strings.Join(f.order, " "); got != "1.17.0 1.18.0 1.19.6" {
		t.Fatalf("load order %s", got)
	}
	if f.maxRun != 1 {
		t.Fatalf("%d loads ran at once, want 1", f.maxRun)
	}
}

// (c) A load's error comes back from the wait for its version and from
// every later one, naming the versions; the later versions are not loaded.
func TestImageLoaderErrorReachesEveryLaterWait(t *testing.T) {
	ctx := testCtx(t)
	f := newFakeLoads()
	l := startImageLoader([]string{"1.16.19"}, chain, f.load)
	defer stop(t, l)
	w19 := waitAsync(ctx, l, "1.19.6")
	recv(t, ctx, f.started, "load of 1.17.0")
	f.finish <- nil
	recv(t, ctx, f.started, "load of 1.18.0")
	f.finish <- errors.New("no space left on device")

	err := l.Wait(ctx, "1.18.0")
	if err == nil || !strings.Contains(err.Error(), "1.18.0") || !strings.Contains(err.Error(), "cilium:v1.18.0") || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("wait for 1.18.0: %v, want the load's error naming the version and its images", err)
	}
	for _, got := range []error{recv(t, ctx, w19, "wait for 1.19.6"), l.Wait(ctx, "1.19.6")} {
		if got == nil || !strings.Contains(got.Error(), "1.19.6") || !strings.Contains(got.Error(), "1.18.0") || !strings.Contains(got.Error(), "no space left") {
			t.Fatalf("wait for 1.19.6: %v, want it to name 1.19.6 and carry 1.18.0's failure", got)
		}
	}
	// A version the loader does not know waits for the end, and gets the failure too.
	if got := l.Wait(ctx, "1.20.2"); got == nil || !strings.Contains(got.Error(), "no space left") {
		t.Fatalf("wait for an unknown version after a failure: %v", got)
	}
	// The earlier version stays loaded, the install version too.
	if err := l.Wait(ctx, "1.17.0"); err != nil {
		t.Fatalf("wait for 1.17.0: %v", err)
	}
	if err := l.Wait(ctx, "1.16.19"); err != nil {
		t.Fatalf("wait for the install version: %v", err)
	}
	stop(t, l)
	if got := strings.Join(f.order, " "); got != "1.17.0 1.18.0" {
		t.Fatalf("loads after the failure: %s", got)
	}
}

// (d) Stop cancels the running load, returns only after the loader did,
// and a waiter gets an error, not a hang.
func TestImageLoaderStopEndsLoaderAndWaiters(t *testing.T) {
	ctx := testCtx(t)
	f := newFakeLoads()
	l := startImageLoader(nil, chain, f.load)
	w18 := waitAsync(ctx, l, "1.18.0")
	recv(t, ctx, f.started, "load of 1.17.0")
	if err := l.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.done:
	default:
		t.Fatal("Stop returned while the loader still ran")
	}
	f.mu.Lock()
	running := f.running
	f.mu.Unlock()
	if running != 0 {
		t.Fatalf("%d loads still running after Stop", running)
	}
	for _, err := range []error{recv(t, ctx, w18, "wait for 1.18.0"), l.Wait(ctx, "1.17.0"), l.Wait(ctx, "1.19.6")} {
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("wait after Stop: %v, want the cancellation", err)
		}
	}
	if err := l.Stop(ctx); err != nil { // twice: no-op
		t.Fatal(err)
	}
	if got := strings.Join(f.order, " "); got != "1.17.0" {
		t.Fatalf("loads after Stop: %s", got)
	}
}

// A wait whose context ends returns its error; the loader goes on.
func TestImageLoaderWaitEndsWithItsContext(t *testing.T) {
	ctx := testCtx(t)
	f := newFakeLoads()
	l := startImageLoader(nil, chain[:1], f.load)
	defer stop(t, l)
	recv(t, ctx, f.started, "load of 1.17.0")
	wctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.Wait(wctx, "1.17.0"); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "1.17.0") {
		t.Fatalf("wait with an ended context: %v", err)
	}
	f.finish <- nil
	if err := l.Wait(ctx, "1.17.0"); err != nil {
		t.Fatalf("wait after the load: %v", err)
	}
}

// Stop bounded by its context: a loader stuck in a load that ignores its
// context is reported, not waited for forever.
func TestImageLoaderStopGivesUpWithItsContext(t *testing.T) {
	ctx := testCtx(t)
	release := make(chan struct{})
	started := make(chan struct{})
	l := startImageLoader(nil, chain[:1], func(context.Context, versionImages) error {
		close(started)
		<-release
		return nil
	})
	recv(t, ctx, started, "the load")
	sctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.Stop(sctx); err == nil {
		t.Fatal("Stop with an ended context reported nothing while the load ran")
	}
	close(release)
	stop(t, l)
}

// The run's images split into what loads before the install (the install
// version's, present locally) and each hop's, in hop order; a version whose
// images are all absent is still listed, so a wait for it follows the order.
func TestSplitImagesByVersion(t *testing.T) {
	var run config.Run
	run.CNI.Name, run.CNI.Version = "cilium", "1.16.19"
	im := topologies.Images{Node: "node:v1", Router: "router:dev", Echo: "echo:dev"}
	needed := []topologies.Image{
		{Ref: "node:v1", For: "kind node"},
		{Ref: "router:dev", For: "harness"},
		{Ref: "echo:dev", For: "harness"},
		{Ref: "cilium:v1.16.19", For: "cilium 1.16.19 chart", Version: "1.16.19"},
		{Ref: "envoy:shared", For: "cilium 1.16.19 chart", Version: "1.16.19"},
		{Ref: "cilium:v1.17.0", For: "cilium 1.17.0 chart", Version: "1.17.0"},
		{Ref: "operator:v1.17.0", For: "cilium 1.17.0 chart", Version: "1.17.0"},
		{Ref: "cilium:v1.18.0", For: "cilium 1.18.0 chart", Version: "1.18.0"},
		{Ref: "cilium:v1.19.6", For: "cilium 1.19.6 chart", Version: "1.19.6"},
	}
	absent := map[string]bool{"operator:v1.17.0": true, "cilium:v1.18.0": true}
	var asked []string
	install, later, err := splitImages(context.Background(), run, needed, im, func(_ context.Context, ref string) (bool, error) {
		asked = append(asked, ref)
		return !absent[ref], nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(install, " "); got != "cilium:v1.16.19 envoy:shared" {
		t.Errorf("install images %q", got)
	}
	var got []string
	for _, v := range later {
		got = append(got, v.version+"="+strings.Join(v.refs, ","))
	}
	if g := strings.Join(got, " "); g != "1.17.0=cilium:v1.17.0 1.18.0= 1.19.6=cilium:v1.19.6" {
		t.Errorf("later versions %q", g)
	}
	for _, ref := range asked {
		if ref == "node:v1" || ref == "echo:dev" || ref == "router:dev" {
			t.Errorf("asked the engine about %s, which is not the CNI's", ref)
		}
	}
	if _, _, err := splitImages(context.Background(), run, needed, im, func(context.Context, string) (bool, error) {
		return false, errors.New("engine gone")
	}); err == nil {
		t.Error("an engine error was lost")
	}
}

// The hops' images go in one load (their versions share most layers): a
// wait for an early hop's version returns only once every hop's are in.
func TestLaterBatchLoadsEveryHopAtOnce(t *testing.T) {
	b := laterBatch(chain)
	if b.version != "1.19.6" || strings.Join(b.refs, ",") != "cilium:v1.17.0,operator:v1.17.0,cilium:v1.18.0,cilium:v1.19.6" {
		t.Fatalf("batch = %+v, want every hop's refs under the last hop", b)
	}
	f := newFakeLoads()
	l := startImageLoader([]string{"1.16.19"}, []versionImages{b}, f.load)
	defer l.Stop(context.Background())
	ctx := testCtx(t)
	waited := make(chan error, 1)
	go func() { waited <- l.Wait(ctx, "1.17.0") }()
	if v := <-f.started; v != "1.19.6" {
		t.Fatalf("load started for %s, want the batch", v)
	}
	select {
	case err := <-waited:
		t.Fatalf("the wait for 1.17.0 returned (%v) before the batch was loaded", err)
	default:
	}
	f.finish <- nil
	if err := <-waited; err != nil {
		t.Fatalf("wait for 1.17.0 after the batch: %v", err)
	}
	if got := versionList(chain); got != "1.17.0, 1.18.0, 1.19.6" {
		t.Errorf("versionList = %q", got)
	}
}
