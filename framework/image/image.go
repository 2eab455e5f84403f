// Package image builds the harness's container images with no registry and
// no BuildKit: a static hybridcni binary in a tar, imported with an
// entrypoint (`docker import --change 'ENTRYPOINT [...]'`), tagged
// hybridcni/<name>:<version> and labelled hybridcni.dev/....
package image

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hybridcni/hybridcni/framework/docker"
)

// Repo is the image repository prefix; LabelPrefix starts every label.
const (
	Repo        = "hybridcni"
	LabelPrefix = "hybridcni.dev/"
	// BinaryPath is where the binary sits inside every image.
	BinaryPath = "/hybridcni"
)

// Spec is one image: a name and the hybridcni subcommand it runs.
type Spec struct {
	// Name makes the reference hybridcni/<Name>:<version>.
	Name string
	// Args follow the binary in the entrypoint, e.g. ["router"].
	Args []string
	// Labels are extra labels (keys without the hybridcni.dev/ prefix).
	Labels map[string]string
}

// The images the harness runs.
var (
	Router = Spec{Name: "router", Args: []string{"router"}}
	Echo   = Spec{Name: "echo", Args: []string{"echo"}}
	All    = []Spec{Router, Echo}
)

// Ref returns hybridcni/<name>:<version>.
func Ref(name, version string) string { return Repo + "/" + name + ":" + version }

var (
	nameRE = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*$`)
	tagRE  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
)

// Builder packages one static binary into images.
type Builder struct {
	Docker *docker.Client
	// Binary is the static hybridcni binary to package.
	Binary string
	// Version is the image tag and the hybridcni.dev/version label.
	Version string
	Logf    func(format string, args ...any)
}

// Image is a built (or already present) image.
type Image struct {
	Ref   string
	ID    string
	Fresh bool // false: an identical image was already there
}

// Build makes the image for s unless one with the same binary digest and
// entrypoint is already tagged.
func (b *Builder) Build(ctx context.Context, s Spec) (Image, error) {
	logf := b.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if !nameRE.MatchString(s.Name) {
		return Image{}, fmt.Errorf("image: name %q: use lower-case letters, digits and . _ - (e.g. router)", s.Name)
	}
	if !tagRE.MatchString(b.Version) {
		return Image{}, fmt.Errorf("image: version %q: a tag is 1-128 of A-Z a-z 0-9 _ . - (e.g. v0.1.0 or dev)", b.Version)
	}
	if err := CheckStatic(b.Binary); err != nil {
		return Image{}, err
	}
	sum, err := fileSHA256(b.Binary)
	if err != nil {
		return Image{}, err
	}
	ref := Ref(s.Name, b.Version)
	labels := map[string]string{
		LabelPrefix + "component":     s.Name,
		LabelPrefix + "version":       b.Version,
		LabelPrefix + "binary-sha256": sum,
	}
	for k, v := range s.Labels {
		labels[LabelPrefix+k] = v
	}
	entry, _ := json.Marshal(append([]string{BinaryPath}, s.Args...))
	if have, ok, err := b.Docker.ImageLabels(ctx, ref); err != nil {
		return Image{}, err
	} else if ok && have[LabelPrefix+"binary-sha256"] == sum {
		ep, err := b.Docker.ImageEntrypoint(ctx, ref)
		if err == nil && string(mustJSON(ep)) == string(entry) {
			logf("image: %s is up to date (binary %s)", ref, sum[:12])
			return Image{Ref: ref}, nil
		}
	}
	// The image this build replaces, removed once the new one is tagged so
	// rebuilds leave no dangling images behind.
	oldID, hadOld, err := b.Docker.ImageID(ctx, ref)
	if err != nil {
		return Image{}, err
	}
	changes := []string{"ENTRYPOINT " + string(entry)}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		changes = append(changes, "LABEL "+k+"="+strconv.Quote(labels[k]))
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeRootfs(pw, b.Binary)) }()
	start := time.Now()
	id, err := b.Docker.ImportImage(ctx, pr, ref, changes)
	pr.Close()
	if err != nil {
		return Image{}, err
	}
	logf("image: built %s (%s) in %s", ref, id, time.Since(start).Round(time.Millisecond))
	if hadOld && oldID != id {
		if err := b.Docker.RemoveImage(ctx, oldID); err != nil {
			logf("image: kept the previous %s (%s): %v", ref, oldID, err)
		}
	}
	return Image{Ref: ref, ID: id, Fresh: true}, nil
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

// writeRootfs writes the image's whole filesystem: the binary and /tmp.
func writeRootfs(w io.Writer, binary string) error {
	f, err := os.Open(binary)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	now := time.Now()
	if err := tw.WriteHeader(&tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777, ModTime: now}); err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(BinaryPath, "/"), Typeflag: tar.TypeReg, Mode: 0o755, Size: st.Size(), ModTime: now}); err != nil {
		return err
	}
	if _, err := io.Copy(tw, f); err != nil {
		return err
	}
	return tw.Close()
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("image: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// CheckStatic refuses a binary that needs a dynamic loader or shared
// libraries: the images have nothing but the binary.
func CheckStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("image: binary %s: %w (build it with CGO_ENABLED=0 go build ./cmd/hybridcni)", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("image: binary %s is dynamically linked; build it with CGO_ENABLED=0", path)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		return fmt.Errorf("image: binary %s needs %v; build it with CGO_ENABLED=0", path, libs)
	}
	return nil
}

// BuildBinary builds a static hybridcni (CGO off, trimmed) from the module
// at root into out, stamping version.
func BuildBinary(ctx context.Context, root, out, version string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath",
		"-ldflags", "-s -w -X github.com/hybridcni/hybridcni/framework/buildinfo.Version="+version,
		"-o", out, "./cmd/hybridcni")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("image: go build ./cmd/hybridcni: %w\n%s", err, b)
	}
	return nil
}

// ModuleRoot finds the hybridcni module root from the working directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/hybridcni/hybridcni\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("image: not inside the hybridcni module; run from the repository")
		}
		dir = parent
	}
}

// Engine connects to the Docker engine; when none answers it runs
// hack/docker-up.sh from the module root (starts dockerd, bounded wait)
// once and tries again.
func Engine(ctx context.Context) (*docker.Client, error) {
	c, err := docker.New(ctx)
	if err == nil {
		return c, nil
	}
	root, rerr := ModuleRoot()
	if rerr != nil {
		return nil, err
	}
	script := filepath.Join(root, "hack", "docker-up.sh")
	if _, serr := os.Stat(script); serr != nil {
		return nil, err
	}
	if out, uerr := exec.CommandContext(ctx, script).CombinedOutput(); uerr != nil {
		return nil, fmt.Errorf("%w; hack/docker-up.sh: %v: %s", err, uerr, strings.TrimSpace(string(out)))
	}
	return docker.New(ctx)
}

// CachedBinary builds the static binary into the user cache
// (~/.cache/hybridcni/bin/<name>) and returns its path. go build leaves an
// up-to-date binary alone, so repeated runs skip the link. Give each
// concurrent caller its own name.
func CachedBinary(ctx context.Context, name, version string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	dir = filepath.Join(dir, "hybridcni", "bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("image: binary cache %s: %w", dir, err)
	}
	out := filepath.Join(dir, name)
	if err := BuildBinary(ctx, root, out, version); err != nil {
		return "", err
	}
	return out, nil
}
