// Package doctor checks that a machine can run a topology: the Docker
// engine, cgroups, kernel modules for VXLAN and packet filtering, inotify
// limits, disk and memory, and whether the images a run needs are present
// locally or a registry answers. Each finding carries its fix; a blocker
// stops `hybridcni up` before anything is created.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	"golang.org/x/sys/unix"

	"github.com/hybridcni/hybridcni/framework/docker"
	"github.com/hybridcni/hybridcni/internal/table"
)

// OfflineEnv set to 1 skips the registry probe: no traffic leaves the
// machine, and registries count as unreachable.
const OfflineEnv = "HYBRIDCNI_OFFLINE"

// Severity of a finding.
type Severity string

// Severities, mildest first.
const (
	OK      Severity = "ok"
	Warning Severity = "warning"
	Blocker Severity = "blocker"
)

// Finding is one check's result.
type Finding struct {
	Check    string   `json:"check"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
	Fix      string   `json:"fix,omitempty"`
}

func (f Finding) String() string {
	s := f.Check + ": " + f.Message
	if f.Fix != "" {
		s += " (fix: " + f.Fix + ")"
	}
	return s
}

// Engine is what doctor asks the Docker engine.
type Engine interface {
	ImageExists(ctx context.Context, ref string) (bool, error)
	RootDir(ctx context.Context) (string, error)
}

var _ Engine = (*docker.Client)(nil)

// Options says what the run needs and how to look at the machine.
type Options struct {
	// Docker is the engine; nil with DockerErr when none answers.
	Docker    Engine
	DockerErr error
	// Cluster: the run creates a kind cluster (docker CLI, node image,
	// cgroups, memory per node matter).
	Cluster bool
	// Nodes is the cluster's node count, for the memory estimate.
	Nodes int
	// NodeImage is the kind node image; Images are the others the run
	// needs (harness images, CNI images).
	NodeImage string
	Images    []string
	// LocalNodeImages are other node images present in the engine (e.g.
	// the offline hybridcni/node build), offered in the node-image fix.
	LocalNodeImages []string
	// ProbePrivileged starts a privileged container (kind nodes are
	// privileged); nil: not checked.
	ProbePrivileged func(ctx context.Context) error
	// Offline skips the registry probe (default: $HYBRIDCNI_OFFLINE=1).
	Offline bool
	// Root prefixes /proc and /sys paths (tests point it at a fake tree).
	Root string
	// LookPath finds programs (default exec.LookPath).
	LookPath func(string) (string, error)
	// FreeBytes reports free space under a path (default statfs).
	FreeBytes func(path string) (uint64, error)
	// Buildable reports whether an absent image can be built here (the
	// harness images, from a static hybridcni binary).
	Buildable func(ref string) bool
	// ProbeRegistry reports whether a registry host answers (default an
	// HTTPS GET of /v2/ with a 5 s timeout; any HTTP answer counts).
	ProbeRegistry func(ctx context.Context, host string) error
}

// OfflineFromEnv reports whether HYBRIDCNI_OFFLINE asks for no registry probe.
func OfflineFromEnv() bool { return os.Getenv(OfflineEnv) == "1" }

// Report is every finding of one doctor run.
type Report struct {
	Findings []Finding `json:"findings"`
}

// Blockers returns the findings that stop a run.
func (r Report) Blockers() []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Severity == Blocker {
			out = append(out, f)
		}
	}
	return out
}

// Err is nil without blockers, else an error listing each with its fix.
func (r Report) Err() error {
	b := r.Blockers()
	if len(b) == 0 {
		return nil
	}
	lines := make([]string, len(b))
	for i, f := range b {
		lines[i] = f.String()
	}
	return &BlockedError{Findings: b, msg: "doctor found " + strconv.Itoa(len(b)) + " blocker(s): " + strings.Join(lines, "; ")}
}

// BlockedError is a doctor report with blockers.
type BlockedError struct {
	Findings []Finding
	msg      string
}

func (e *BlockedError) Error() string { return e.msg }

// Write prints the report as a table: STATUS, CHECK, FINDING and FIX.
func (r Report) Write(w io.Writer) {
	t := table.New(w, "status", "check", "finding", "fix")
	for _, f := range r.Findings {
		t.Row(strings.ToUpper(string(f.Severity)), f.Check, f.Message, f.Fix)
	}
	t.Flush()
}

// Run performs every check.
func Run(ctx context.Context, o Options) Report {
	if o.LookPath == nil {
		o.LookPath = exec.LookPath
	}
	if o.FreeBytes == nil {
		o.FreeBytes = statfsFree
	}
	if o.ProbeRegistry == nil {
		o.ProbeRegistry = probeRegistry
	}
	var r Report
	add := func(f Finding) { r.Findings = append(r.Findings, f) }
	add(checkEngine(o))
	if o.Cluster {
		add(checkCLI(o))
		add(checkCgroups(o))
		if o.Docker != nil {
			add(checkPrivileged(ctx, o))
		}
	}
	for _, f := range checkModules(o) {
		add(f)
	}
	if o.Cluster {
		for _, f := range checkInotify(o) {
			add(f)
		}
	}
	add(checkDisk(ctx, o))
	add(checkMemory(o))
	for _, f := range checkImages(ctx, o) {
		add(f)
	}
	return r
}

func checkEngine(o Options) Finding {
	f := Finding{Check: "docker-engine"}
	if o.Docker == nil {
		f.Severity = Blocker
		f.Message = "no Docker engine answers"
		if o.DockerErr != nil {
			f.Message = o.DockerErr.Error()
		}
		f.Fix = "start dockerd (hack/docker-up.sh) or set DOCKER_HOST"
		return f
	}
	f.Severity, f.Message = OK, "engine answers"
	return f
}

func checkCLI(o Options) Finding {
	if p, err := o.LookPath("docker"); err == nil {
		return Finding{Check: "docker-cli", Severity: OK, Message: p}
	}
	return Finding{Check: "docker-cli", Severity: Blocker, Message: "no `docker` command on PATH; kind drives the Docker CLI",
		Fix: "install the Docker CLI (Debian: docker.io) or add it to PATH"}
}

func checkPrivileged(ctx context.Context, o Options) Finding {
	f := Finding{Check: "privileged-containers"}
	if o.ProbePrivileged == nil {
		f.Severity, f.Message = Warning, "not checked: no local image to start a privileged container from"
		f.Fix = "build the harness images (`hybridcni images build`) so doctor can try"
		return f
	}
	if err := o.ProbePrivileged(ctx); err != nil {
		f.Severity = Blocker
		f.Message = "a privileged container does not start, and kind nodes are privileged: " + err.Error()
		f.Fix = "on hosts that withhold capabilities, make a runtime that drops them the engine's default (hack/docker-runtime.sh)"
		return f
	}
	f.Severity, f.Message = OK, "a privileged container starts and exits cleanly"
	return f
}

// CgroupV1 reports whether the host runs cgroup v1 (no unified hierarchy
// at /sys/fs/cgroup); kind nodes then need failCgroupV1: false.
func CgroupV1(root string) bool {
	_, err := os.Stat(filepath.Join(root, "/sys/fs/cgroup/cgroup.controllers"))
	return err != nil
}

func checkCgroups(o Options) Finding {
	if CgroupV1(o.Root) {
		return Finding{Check: "cgroups", Severity: Warning,
			Message: "cgroup v1: recent kubelets refuse it unless told (hybridcni sets failCgroupV1: false on the kind nodes)",
			Fix:     "boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1) to avoid the deprecated mode"}
	}
	return Finding{Check: "cgroups", Severity: OK, Message: "cgroup v2"}
}

// procSigns are /proc files that exist when a module is in the kernel.
var procSigns = map[string]string{"ip_tables": "/proc/net/ip_tables_names"}

// moduleState says whether a kernel module is loaded or built in, can be
// loaded, or is nowhere to be seen.
func moduleState(root, name string) (string, bool) {
	if _, err := os.Stat(filepath.Join(root, "/sys/module", name)); err == nil {
		return "loaded", true
	}
	// Built-in modules without parameters have no /sys/module entry; some
	// show themselves in /proc instead.
	if p, ok := procSigns[name]; ok {
		if _, err := os.Stat(filepath.Join(root, p)); err == nil {
			return "present (" + p + ")", true
		}
	}
	rel, err := os.ReadFile(filepath.Join(root, "/proc/sys/kernel/osrelease"))
	if err != nil {
		return "not loaded (kernel release unknown)", false
	}
	dir := filepath.Join(root, "/lib/modules", strings.TrimSpace(string(rel)))
	for _, f := range []string{"modules.builtin", "modules.dep"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			mod, _, _ := strings.Cut(line, ":")
			base := filepath.Base(mod)
			base = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(base, ".xz"), ".zst"), ".gz")
			if strings.TrimSuffix(base, ".ko") == name {
				if f == "modules.builtin" {
					return "built in", true
				}
				return "loadable", true
			}
		}
	}
	return "neither loaded nor available in " + dir, false
}

func checkModules(o Options) []Finding {
	var out []Finding
	if st, ok := moduleState(o.Root, "vxlan"); ok {
		out = append(out, Finding{Check: "kernel-vxlan", Severity: OK, Message: "vxlan " + st})
	} else {
		out = append(out, Finding{Check: "kernel-vxlan", Severity: Blocker,
			Message: "vxlan module " + st + ": the CNIs' VXLAN overlay cannot work",
			Fix:     "modprobe vxlan (install the kernel's extra modules package if it is missing)"})
	}
	ipt, iptOK := moduleState(o.Root, "ip_tables")
	nft, nftOK := moduleState(o.Root, "nf_tables")
	switch {
	case iptOK || nftOK:
		out = append(out, Finding{Check: "kernel-packet-filter", Severity: OK, Message: "ip_tables " + ipt + ", nf_tables " + nft})
	default:
		out = append(out, Finding{Check: "kernel-packet-filter", Severity: Blocker,
			Message: "neither ip_tables nor nf_tables is available: kube-proxy, masquerading and Docker networks need one",
			Fix:     "modprobe ip_tables or modprobe nf_tables"})
	}
	return out
}

// kind's known-issues page asks for these limits for multi-node clusters.
const (
	minInotifyWatches   = 524288
	minInotifyInstances = 512
)

func checkInotify(o Options) []Finding {
	var out []Finding
	for _, c := range []struct {
		key string
		min int
	}{{"max_user_watches", minInotifyWatches}, {"max_user_instances", minInotifyInstances}} {
		f := Finding{Check: "inotify-" + strings.ReplaceAll(c.key, "_", "-")}
		data, err := os.ReadFile(filepath.Join(o.Root, "/proc/sys/fs/inotify", c.key))
		v, perr := strconv.Atoi(strings.TrimSpace(string(data)))
		switch {
		case err != nil || perr != nil:
			f.Severity, f.Message = Warning, "cannot read fs.inotify."+c.key
		case v < c.min:
			f.Severity = Warning
			f.Message = fmt.Sprintf("fs.inotify.%s is %d; kind nodes run out of inotify (\"too many open files\") below %d", c.key, v, c.min)
			f.Fix = fmt.Sprintf("sysctl fs.inotify.%s=%d", c.key, c.min)
		default:
			f.Severity, f.Message = OK, fmt.Sprintf("fs.inotify.%s is %d", c.key, v)
		}
		out = append(out, f)
	}
	return out
}

const gib = 1 << 30

func checkDisk(ctx context.Context, o Options) Finding {
	path := "/var/lib/docker"
	if o.Docker != nil {
		if dir, err := o.Docker.RootDir(ctx); err == nil && dir != "" {
			path = dir
		}
	}
	need, want := uint64(gib/4), uint64(gib)
	if o.Cluster {
		need, want = 2*gib, 10*gib
	}
	free, err := o.FreeBytes(filepath.Join(o.Root, path))
	f := Finding{Check: "disk"}
	switch {
	case err != nil:
		f.Severity, f.Message = Warning, fmt.Sprintf("cannot read free space under %s: %v", path, err)
	case free < need:
		f.Severity = Blocker
		f.Message = fmt.Sprintf("%.1f GiB free under %s, the run needs at least %.1f GiB", float64(free)/gib, path, float64(need)/gib)
		f.Fix = "free space (docker system prune, remove leftovers with `hybridcni gc`)"
	case free < want:
		f.Severity = Warning
		f.Message = fmt.Sprintf("%.1f GiB free under %s; node images and CNI images want %.0f GiB", float64(free)/gib, path, float64(want)/gib)
		f.Fix = "free space (docker system prune, `hybridcni gc`)"
	default:
		f.Severity, f.Message = OK, fmt.Sprintf("%.1f GiB free under %s", float64(free)/gib, path)
	}
	return f
}

// Memory a kind node needs, roughly (control plane more, workers less).
const memPerNode = 768 << 20

func checkMemory(o Options) Finding {
	f := Finding{Check: "memory"}
	data, err := os.ReadFile(filepath.Join(o.Root, "/proc/meminfo"))
	avail := uint64(0)
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			avail = kb << 10
		}
	}
	if err != nil || avail == 0 {
		f.Severity, f.Message = Warning, "cannot read MemAvailable from /proc/meminfo"
		return f
	}
	need := uint64(256 << 20)
	if o.Cluster {
		need += uint64(max(o.Nodes, 1)) * memPerNode
	}
	switch {
	case avail < need/2:
		f.Severity = Blocker
		f.Message = fmt.Sprintf("%.1f GiB available, the run needs about %.1f GiB", float64(avail)/gib, float64(need)/gib)
		f.Fix = "stop other workloads or use fewer nodes (nodes.hybrid, nodes.cloud)"
	case avail < need:
		f.Severity = Warning
		f.Message = fmt.Sprintf("%.1f GiB available, the run wants about %.1f GiB", float64(avail)/gib, float64(need)/gib)
		f.Fix = "stop other workloads or use fewer nodes"
	default:
		f.Severity, f.Message = OK, fmt.Sprintf("%.1f GiB available", float64(avail)/gib)
	}
	return f
}

// RegistryHost is the host a reference is pulled from (Docker Hub's API
// host for docker.io images).
func RegistryHost(ref string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", err
	}
	host := reference.Domain(named)
	if host == "docker.io" {
		host = "registry-1.docker.io"
	}
	return host, nil
}

func checkImages(ctx context.Context, o Options) []Finding {
	type img struct {
		ref, check string
	}
	var imgs []img
	if o.Cluster && o.NodeImage != "" {
		imgs = append(imgs, img{o.NodeImage, "node-image"})
	}
	seen := map[string]bool{}
	for _, ref := range o.Images {
		if ref != "" && !seen[ref] && ref != o.NodeImage {
			seen[ref] = true
			imgs = append(imgs, img{ref, "image " + ref})
		}
	}
	if len(imgs) == 0 || o.Docker == nil {
		return nil // without an engine, docker-engine is the blocker
	}
	var out []Finding
	reach := map[string]string{} // registry host -> "" reachable, else why not
	reachable := func(host string) (bool, string) {
		if why, ok := reach[host]; ok {
			return why == "", why
		}
		why := ""
		if o.Offline {
			why = "registry not checked, offline"
		} else if err := o.ProbeRegistry(ctx, host); err != nil {
			why = fmt.Sprintf("registry %s does not answer: %v", host, err)
		}
		reach[host] = why
		return why == "", why
	}
	for _, im := range imgs {
		f := Finding{Check: im.check}
		if ok, err := o.Docker.ImageExists(ctx, im.ref); ok && err == nil {
			f.Severity, f.Message = OK, im.ref+" is present locally"
			out = append(out, f)
			continue
		}
		if o.Buildable != nil && o.Buildable(im.ref) {
			f.Severity, f.Message = OK, im.ref+" is absent locally; it will be built from this binary"
			out = append(out, f)
			continue
		}
		host, err := RegistryHost(im.ref)
		if err != nil {
			f.Severity, f.Message, f.Fix = Blocker, fmt.Sprintf("%q is not an image reference: %v", im.ref, err), "fix the image name"
			out = append(out, f)
			continue
		}
		if ok, why := reachable(host); ok {
			f.Severity, f.Message = OK, im.ref+" is absent locally; "+host+" answers, it will be pulled"
		} else {
			what := "image"
			if im.check == "node-image" {
				what = "node image"
			}
			f.Severity = Blocker
			f.Message = fmt.Sprintf("%s %s is absent and no registry answers (%s)", what, im.ref, why)
			f.Fix = loadFix(im.ref)
			if im.check == "node-image" && len(o.LocalNodeImages) > 0 {
				f.Fix = "use a node image present here: --node-image " + o.LocalNodeImages[0] + "; or " + f.Fix
			}
		}
		out = append(out, f)
	}
	return out
}

func loadFix(ref string) string {
	if strings.HasPrefix(ref, "hybridcni/") {
		return "build the harness images: `hybridcni images build`"
	}
	return "on a machine where the registry answers: `hybridcni images save -f RUN.yaml --archive images.tar`; here: `docker load -i images.tar` (or `hybridcni images load`); or unset " + OfflineEnv + " so registries are asked"
}

func probeRegistry(ctx context.Context, host string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+host+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var uerr interface{ Timeout() bool }
		if errors.As(err, &uerr) && uerr.Timeout() {
			return fmt.Errorf("no answer within 5s")
		}
		return err
	}
	resp.Body.Close()
	return nil
}

func statfsFree(path string) (uint64, error) {
	for p := path; ; p = filepath.Dir(p) {
		var st unix.Statfs_t
		err := unix.Statfs(p, &st)
		if err == nil {
			return st.Bavail * uint64(st.Bsize), nil
		}
		if p == "/" || p == "." {
			return 0, err
		}
	}
}
