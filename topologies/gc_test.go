package topologies

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/docker"
)

func TestGCStaleImagesPicksDanglingOursAndOtherVersions(t *testing.T) {
	now := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	oldT, young := now.Add(-3*time.Hour), now.Add(-time.Minute)
	old := func(c time.Time) bool { return now.Sub(c) >= 2*time.Hour }
	harness := func(name string) map[string]string {
		return map[string]string{"hybridcni.dev/component": name, "hybridcni.dev/binary-sha256": "ab12"}
	}
	id := func(n int) string { return fmt.Sprintf("sha256:%064x", n) }
	imgs := []docker.ImageInfo{
		{ID: id(1), Labels: harness("echo"), Created: oldT},                               // dangling harness build
		{ID: id(2), Labels: map[string]string{"dev.hybridcni.node-image.inputs": "84ca"}}, // dangling node image, epoch
		{ID: id(3), Labels: map[string]string{"maintainer": "someone"}, Created: oldT},    // dangling, not ours
		{ID: id(4), Created: oldT},                                                                    // dangling, no labels
		{ID: id(5), Labels: harness("echo"), Created: young},                                          // dangling, too young
		{ID: id(6), Labels: harness("router"), Created: oldT},                                         // dangling, in use
		{ID: id(7), Tags: []string{"hybridcni/echo:ccc8665"}, Labels: harness("echo"), Created: oldT}, // other version
		{ID: id(8), Tags: []string{"hybridcni/echo:v1"}, Labels: harness("echo"), Created: oldT},      // current version
		{ID: id(9), Tags: []string{"hybridcni/router:ccc8665-dirty", "hybridcni/router:v1"}, Labels: harness("router"), Created: oldT},
		{ID: id(10), Tags: []string{"hybridcni/router:19e4faf"}, Labels: harness("router"), Created: oldT}, // in use (stopped container)
		{ID: id(11), Tags: []string{"hybridcni/echo:f64ed62"}, Labels: harness("echo"), Created: young},    // too young
		{ID: id(12), Tags: []string{"hybridcni/node:v1.37.2"}, Labels: map[string]string{"dev.hybridcni.node-image.inputs": "60e3"}},
		{ID: id(13), Tags: []string{"hybridcni/cilium:v1.16.19"}, Labels: harness("cilium"), Created: oldT},
		{ID: id(14), Tags: []string{"hybridcni/cilium-operator-generic:v1.16.19"}, Labels: harness("operator"), Created: oldT},
		{ID: id(15), Tags: []string{"hybridcni/kube-router:v2.1.0"}, Labels: harness("kube-router"), Created: oldT},
		{ID: id(16), Tags: []string{"busybox:old"}, Created: oldT},                                                              // not ours
		{ID: id(17), Tags: []string{"hybridcni/other:old"}, Labels: map[string]string{"hybridcni.dev/run": "x"}, Created: oldT}, // ours, not a harness image
	}
	inUse := map[string]bool{id(6): true, id(10): true}
	got := staleImages(imgs, inUse, "v1", old)
	var names, refs []string
	for _, s := range got {
		if s.Kind != ObjImage {
			t.Errorf("%s: kind %q, want %q", s.Name, s.Kind, ObjImage)
		}
		names = append(names, s.Name)
		refs = append(refs, s.ref)
	}
	wantNames := []string{"000000000000", "000000000000", "hybridcni/echo:ccc8665", "hybridcni/router:ccc8665-dirty"}
	wantRefs := []string{id(1), id(2), "hybridcni/echo:ccc8665", "hybridcni/router:ccc8665-dirty"}
	if !slices.Equal(names, wantNames) || !slices.Equal(refs, wantRefs) {
		t.Fatalf("pruned %q (refs %q)\nwant %q (refs %q)", names, refs, wantNames, wantRefs)
	}
	if !got[1].Created.IsZero() {
		t.Errorf("epoch image created %v, want zero (printed as -)", got[1].Created)
	}

	// Another running version keeps its own images and prunes ours.
	got = staleImages(imgs, inUse, "ccc8665", old)
	names = names[:0]
	for _, s := range got {
		names = append(names, s.Name)
	}
	want := []string{"000000000000", "000000000000", "hybridcni/echo:v1", "hybridcni/router:ccc8665-dirty", "hybridcni/router:v1"}
	if !slices.Equal(names, want) {
		t.Fatalf("with version ccc8665 pruned %q, want %q", names, want)
	}

	// --older-than 0 takes the young ones too.
	got = staleImages(imgs, inUse, "v1", func(time.Time) bool { return true })
	if len(got) != 6 {
		t.Fatalf("older-than 0 pruned %d images, want 6: %+v", len(got), got)
	}
}

func TestGCImagesInUseSkipsRemovedContainers(t *testing.T) {
	imgs := []docker.ImageInfo{{ID: "sha256:c", Parent: "sha256:p"}}
	uses := map[string]string{"ct-stopped": "sha256:a", "ct-gone": "sha256:b"}
	got := imagesInUse(imgs, uses, map[string]bool{"ct-gone": true})
	if !got["sha256:a"] || got["sha256:b"] || !got["sha256:p"] || got["sha256:c"] {
		t.Fatalf("in use = %v, want a (stopped container) and p (a parent), not b (its container is removed) nor c", got)
	}
}

func TestGCSplitRef(t *testing.T) {
	for ref, want := range map[string][2]string{
		"hybridcni/echo:ccc8665":          {"hybridcni/echo", "ccc8665"},
		"localhost:5000/hybridcni/echo:x": {"localhost:5000/hybridcni/echo", "x"},
		"localhost:5000/hybridcni/echo":   {"localhost:5000/hybridcni/echo", "latest"},
	} {
		if r, tag := splitRef(ref); r != want[0] || tag != want[1] {
			t.Errorf("splitRef(%q) = %q, %q; want %q", ref, r, tag, want)
		}
	}
}

// freezerTree writes fake freezer.state files under root; states maps a
// path relative to root to its state.
func freezerTree(t *testing.T, root string, states map[string]string) {
	t.Helper()
	for dir, s := range states {
		d := filepath.Join(root, dir)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "freezer.state"), []byte(s+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readState(t *testing.T, root, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, dir, "freezer.state"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestGCThawFrozenWalksTheContainerCgroups(t *testing.T) {
	root := t.TempDir()
	const id, other = "1b37529033f7", "00b33a5a6cd4"
	pod := id + "/kubelet.slice/kubelet-kubepods.slice/cri-containerd-5976.scope"
	freezerTree(t, root, map[string]string{
		id:                           "THAWED",
		id + "/kubelet.slice":        "FROZEN",
		pod:                          "FROZEN",
		id + "/system.slice":         "FREEZING",
		id + "/system.slice/a.scope": "THAWED",
		other:                        "FROZEN", // another container: left alone
	})
	thawed, err := thawFrozen(filepath.Join(root, id))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(root, id, "kubelet.slice"), filepath.Join(root, id, "system.slice"), filepath.Join(root, pod)}
	if !slices.Equal(thawed, want) {
		t.Fatalf("thawed %q\nwant (parents first) %q", thawed, want)
	}
	for dir, s := range map[string]string{id: "THAWED", id + "/kubelet.slice": "THAWED", pod: "THAWED", id + "/system.slice": "THAWED", id + "/system.slice/a.scope": "THAWED", other: "FROZEN"} {
		if got := readState(t, root, dir); got != s {
			t.Errorf("%s: state %s, want %s", dir, got, s)
		}
	}
	if thawed, err := thawFrozen(filepath.Join(root, "absent")); err != nil || len(thawed) != 0 {
		t.Fatalf("absent container: thawed %q, %v; want nothing, no error", thawed, err)
	}
}

func TestGCThawAndRetryRemovesOnceMoreOnlyAfterThawing(t *testing.T) {
	first := errors.New("cannot kill container: tried to kill container, but did not receive an exit event")
	root := t.TempDir()
	freezerTree(t, root, map[string]string{"frozen/kubelet.slice": "FROZEN", "thawed": "THAWED"})
	var logs []string
	logf := func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }

	calls := 0
	err := thawAndRetry(root, []string{"frozen"}, "container hcni-x-worker", first, logf, func() error { calls++; return nil })
	if err != nil || calls != 1 {
		t.Fatalf("after thawing: err %v, %d removal(s); want removed by one retry", err, calls)
	}
	if len(logs) != 1 || !strings.Contains(logs[0], "container hcni-x-worker") || !strings.Contains(logs[0], "thawed 1 frozen cgroup(s) under "+root) {
		t.Fatalf("log %q does not report the thaw", logs)
	}

	// Nothing frozen (or no freezer dir, or a bogus id): no retry, the first error stands.
	for _, ids := range [][]string{{"thawed"}, {"absent"}, {"../frozen"}, {""}} {
		calls = 0
		err = thawAndRetry(root, ids, "container y", first, logf, func() error { calls++; return nil })
		if !errors.Is(err, first) || calls != 0 {
			t.Fatalf("ids %q: err %v, %d retries; want the first error and no retry", ids, err, calls)
		}
	}

	// The retry fails too: both errors, and the thaw, are reported.
	freezerTree(t, root, map[string]string{"frozen2": "FROZEN"})
	err = thawAndRetry(root, []string{"frozen2"}, "container z", first, logf, func() error { return errors.New("device or resource busy") })
	if err == nil || !strings.Contains(err.Error(), "still not removed after thawing 1 frozen cgroup(s)") || !strings.Contains(err.Error(), "device or resource busy") || !strings.Contains(err.Error(), "did not receive an exit event") {
		t.Fatalf("failed retry: %v", err)
	}
}
