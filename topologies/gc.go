package topologies

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hybridcni/hybridcni/framework/buildinfo"
	"github.com/hybridcni/hybridcni/framework/docker"
)

// ObjImage is the kind gc reports for an image.
const ObjImage = "image"

// DefaultFreezerRoot holds Docker containers' cgroup v1 freezer directories
// (cgroupfs driver): <root>/<container-id>/**/freezer.state.
const DefaultFreezerRoot = "/sys/fs/cgroup/freezer/docker"

// GCOptions selects what `hybridcni gc` removes.
type GCOptions struct {
	// OlderThan keeps objects younger than this (0: remove all).
	OlderThan time.Duration
	// Run limits removal to one run's objects ("": every run, and images).
	Run string
	// DryRun lists without removing.
	DryRun bool
	// StateDir, when set, also loses the state (ledger, kubeconfig) of
	// removed runs.
	StateDir string
	// Version is the harness version whose images stay (default: this
	// binary's, framework/buildinfo.Version).
	Version string
	// FreezerRoot is where a container's frozen cgroups are thawed when its
	// removal fails (default DefaultFreezerRoot).
	FreezerRoot string

	// imageLabel, when set, limits the image sweep to images also carrying
	// this label (key=value): tests keep off other engineers' images.
	imageLabel string
}

// GC removes leftover kind clusters (named hcni-...), then containers,
// networks and volumes carrying the run label, that are older than
// o.OlderThan; without o.Run it then removes stale images (see gcImages).
// A container whose removal fails is thawed (cgroup v1 freezer) and
// removed once more. It returns what it removed (or would remove, on a
// dry run).
func GC(ctx context.Context, dc *docker.Client, o GCOptions, opts ...Option) ([]Entry, error) {
	op := buildOptions(opts)
	now := op.now()
	old := func(t time.Time) bool { return now.Sub(t) >= o.OlderThan }
	freezer := o.FreezerRoot
	if freezer == "" {
		freezer = DefaultFreezerRoot
	}
	var found []Entry
	var errs []error

	// kind clusters: their node containers carry kind's label, not ours.
	clusters, err := kindProvider(op.logf).List()
	if err != nil {
		errs = append(errs, err)
	}
	nodeIDs := map[string][]string{}
	for _, c := range clusters {
		if !strings.HasPrefix(c, NamePrefix) || (o.Run != "" && c != o.Run) {
			continue
		}
		nodes, err := dc.ListLabelled(ctx, KindClusterLabel+"="+c)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		created := now
		for _, n := range nodes {
			if n.Created.Before(created) {
				created = n.Created
			}
			if n.Kind == ObjContainer {
				nodeIDs[c] = append(nodeIDs[c], n.ID)
			}
		}
		if old(created) {
			found = append(found, Entry{Kind: ObjCluster, Name: c, Created: created})
		}
	}

	sel := LabelRun
	if o.Run != "" {
		sel += "=" + o.Run
	}
	objs, err := dc.ListLabelled(ctx, sel)
	if err != nil {
		errs = append(errs, err)
	}
	rank := map[string]int{"container": 0, "network": 1, "volume": 2}
	sort.SliceStable(objs, func(i, j int) bool { return rank[objs[i].Kind] < rank[objs[j].Kind] })
	var dockerObjs []docker.Object
	for _, x := range objs {
		created := x.Created
		if t, err := time.Parse(time.RFC3339, x.Labels[LabelCreated]); err == nil {
			created = t
		}
		if old(created) {
			dockerObjs = append(dockerObjs, x)
			found = append(found, Entry{Kind: x.Kind, Name: x.Name, Created: created})
		}
	}
	// Images belong to no run: --run leaves them alone (tests scope them
	// with imageLabel instead).
	sweepImages := o.Run == "" || o.imageLabel != ""
	if o.DryRun {
		if sweepImages {
			// The images of containers this gc would remove count as free.
			gone := map[string]bool{}
			for _, e := range found {
				if e.Kind != ObjCluster {
					continue
				}
				for _, id := range nodeIDs[e.Name] {
					gone[id] = true
				}
			}
			for _, x := range dockerObjs {
				if x.Kind == ObjContainer {
					gone[x.ID] = true
				}
			}
			imgs, err := gcImages(ctx, dc, o, op, gone)
			found = append(found, imgs...)
			errs = append(errs, err)
		}
		return found, errors.Join(errs...)
	}

	var removed []Entry
	gone := map[string]bool{}
	runs := map[string]bool{}
	for _, e := range found {
		if e.Kind != ObjCluster {
			continue
		}
		kubeconfig := ""
		if o.StateDir != "" {
			if p := filepath.Join(o.StateDir, e.Name, "kubeconfig"); fileExists(p) {
				kubeconfig = p
			}
		}
		err := deleteKindCluster(e.Name, kubeconfig, op.logf)
		if err != nil {
			err = thawAndRetry(freezer, nodeIDs[e.Name], e.String(), err, op.logf, func() error {
				return deleteKindCluster(e.Name, kubeconfig, op.logf)
			})
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, e)
		runs[e.Name] = true
		for _, id := range nodeIDs[e.Name] {
			gone[id] = true
		}
		op.logf("removed %s", e)
	}
	for _, x := range dockerObjs {
		err := dc.Remove(ctx, x)
		if err != nil && x.Kind == ObjContainer {
			err = thawAndRetry(freezer, []string{x.ID}, x.Kind+" "+x.Name, err, op.logf, func() error {
				return dc.Remove(ctx, x)
			})
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, Entry{Kind: x.Kind, Name: x.Name})
		runs[x.Labels[LabelRun]] = true
		if x.Kind == ObjContainer {
			gone[x.ID] = true
		}
		op.logf("removed %s %s", x.Kind, x.Name)
	}
	if o.StateDir != "" {
		for run := range runs {
			if run == "" || strings.ContainsAny(run, `/\`) || run == "." || run == ".." {
				continue
			}
			if err := os.RemoveAll(filepath.Join(o.StateDir, run)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if sweepImages {
		imgs, err := gcImages(ctx, dc, o, op, gone)
		removed = append(removed, imgs...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("gc: %w", errors.Join(errs...))
	}
	return removed, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Images the offline tier builds from pinned inputs and tags by content:
// expensive caches, never removed by tag (a dangling one may go).
var keptRepos = []string{"hybridcni/node", "hybridcni/kube-router"}

const keptRepoPrefix = "hybridcni/cilium" // hybridcni/cilium, hybridcni/cilium-operator-generic, ...

// componentLabel marks the harness images (framework/image).
const componentLabel = "hybridcni.dev/component"

// staleImage is one image (or one tag of it) gc removes.
type staleImage struct {
	Entry
	ref string // what to remove: the tag, or the full ID of a dangling image
	why string
}

// staleImages picks, among images older than old and used by no
// container, (a) dangling images carrying our labels (hybridcni.dev/* or
// dev.hybridcni.*) and (b) the tags of harness images (label
// hybridcni.dev/component) whose tag is not version. Offline images
// (keptRepos) keep their tags. The result is sorted by name.
func staleImages(imgs []docker.ImageInfo, inUse map[string]bool, version string, old func(time.Time) bool) []staleImage {
	var out []staleImage
	for _, im := range imgs {
		if inUse[im.ID] || !old(im.Created) || !ourLabels(im.Labels) {
			continue
		}
		if im.Dangling() {
			out = append(out, staleImage{Entry: Entry{Kind: ObjImage, Name: shortID(im.ID), Created: im.Created}, ref: im.ID, why: "dangling"})
			continue
		}
		if _, ok := im.Labels[componentLabel]; !ok {
			continue
		}
		for _, t := range im.Tags {
			repo, tag := splitRef(t)
			if keptRepo(repo) || tag == version {
				continue
			}
			out = append(out, staleImage{Entry: Entry{Kind: ObjImage, Name: t, Created: im.Created}, ref: t, why: "harness image of version " + tag + ", not " + version})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func ourLabels(l map[string]string) bool {
	for k := range l {
		if strings.HasPrefix(k, "hybridcni.dev/") || strings.HasPrefix(k, "dev.hybridcni.") {
			return true
		}
	}
	return false
}

func keptRepo(repo string) bool {
	repo = strings.TrimPrefix(strings.TrimPrefix(repo, "docker.io/"), "library/")
	for _, r := range keptRepos {
		if repo == r {
			return true
		}
	}
	return strings.HasPrefix(repo, keptRepoPrefix)
}

// splitRef splits repo:tag (a registry port is part of the repo).
func splitRef(ref string) (repo, tag string) {
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		return ref, "latest"
	}
	return ref[:i], ref[i+1:]
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

// gcImages removes the images staleImages picks. Images used by a
// container count as used unless the container is in gone (removed by
// this gc, or to be removed on a dry run). The engine refuses an image a
// container started using since.
func gcImages(ctx context.Context, dc *docker.Client, o GCOptions, op options, gone map[string]bool) ([]Entry, error) {
	now := op.now()
	old := func(t time.Time) bool { return now.Sub(t) >= o.OlderThan }
	keep := o.Version
	if keep == "" {
		keep = buildinfo.Version
	}
	imgs, err := dc.ListImages(ctx)
	if err != nil {
		return nil, err
	}
	uses, err := dc.ContainerImages(ctx)
	if err != nil {
		return nil, err
	}
	if o.imageLabel != "" {
		k, v, _ := strings.Cut(o.imageLabel, "=")
		var scoped []docker.ImageInfo
		for _, im := range imgs {
			if im.Labels[k] == v {
				scoped = append(scoped, im)
			}
		}
		imgs = scoped
	}
	stale := staleImages(imgs, imagesInUse(imgs, uses, gone), keep, old)
	var out []Entry
	var errs []error
	for _, s := range stale {
		if o.DryRun {
			out = append(out, s.Entry)
			continue
		}
		if err := dc.RemoveImage(ctx, s.ref); err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, s.Entry)
		op.logf("removed %s %s (%s)", s.Kind, s.Name, s.why)
	}
	return out, errors.Join(errs...)
}

// imagesInUse are the images a container uses (uses: container ID to
// image ID), but for the containers in gone, and the parents of images.
func imagesInUse(imgs []docker.ImageInfo, uses map[string]string, gone map[string]bool) map[string]bool {
	inUse := map[string]bool{}
	for ct, im := range uses {
		if !gone[ct] {
			inUse[im] = true
		}
	}
	for _, im := range imgs {
		if im.Parent != "" {
			inUse[im.Parent] = true // a parent goes with its last child
		}
	}
	return inUse
}

// thawAndRetry runs remove once more after a failed removal (first) when
// thawing the containers' frozen cgroup v1 freezers (under root/<id>)
// changed something: runc can leave a nested cgroup FROZEN, and the
// engine then cannot stop the container. Otherwise it returns first.
func thawAndRetry(root string, ids []string, what string, first error, logf func(string, ...any), remove func() error) error {
	var thawed []string
	var errs []error
	for _, id := range ids {
		if id == "" || filepath.Base(id) != id || id == "." || id == ".." {
			continue
		}
		t, err := thawFrozen(filepath.Join(root, id))
		thawed = append(thawed, t...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(thawed) == 0 {
		return errors.Join(append([]error{first}, errs...)...)
	}
	logf("%s: removal failed (%v); thawed %d frozen cgroup(s) under %s, removing once more", what, first, len(thawed), root)
	if err := remove(); err != nil {
		return fmt.Errorf("%s: still not removed after thawing %d frozen cgroup(s) under %s: %w (first attempt: %v)", what, len(thawed), root, err, first)
	}
	return nil
}

// thawFrozen writes THAWED to every freezer.state under dir that reads
// FROZEN or FREEZING, parents before children (a child cannot thaw under
// a frozen parent). It returns the directories thawed; a missing dir is
// no error.
func thawFrozen(dir string) ([]string, error) {
	var states []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.IsDir() && d.Name() == "freezer.state" {
			states = append(states, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("thaw %s: %w", dir, err)
	}
	sort.SliceStable(states, func(i, j int) bool {
		return strings.Count(states[i], string(filepath.Separator)) < strings.Count(states[j], string(filepath.Separator))
	})
	var thawed []string
	var errs []error
	for _, p := range states {
		b, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if s := strings.TrimSpace(string(b)); s != "FROZEN" && s != "FREEZING" {
			continue
		}
		if err := os.WriteFile(p, []byte("THAWED\n"), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("thaw %s: %w", filepath.Dir(p), err))
			continue
		}
		thawed = append(thawed, filepath.Dir(p))
	}
	return thawed, errors.Join(errs...)
}
