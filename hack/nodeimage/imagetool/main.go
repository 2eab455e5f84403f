// Command imagetool writes a container image as a docker-archive tar (the
// format of `docker save`, read by `docker load` and `ctr images import`)
// from an optional base root filesystem tar plus single files, with no
// registry, no daemon and no BuildKit.
//
//	imagetool archive --out F --tag REF [--base ROOTFS.tar] \
//	    [--file SRC:DST]... [--entrypoint ARG]... [--env K=V]... [--label K=V]... [--stop-signal SIG]
package main

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"strings"
	"time"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

// Spec is one image to write.
type Spec struct {
	Tag        string
	Base       string   // root filesystem tar used as the first layer
	Files      []string // SRC:DST, added in one layer, mode kept
	Entrypoint []string
	Env        []string
	Labels     map[string]string
	StopSignal string
}

func main() {
	if len(os.Args) < 2 || os.Args[1] != "archive" {
		fmt.Fprintln(os.Stderr, "usage: imagetool archive --out FILE --tag REF [--base TAR] [--file SRC:DST]... [--entrypoint ARG]... [--env K=V]...")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("archive", flag.ExitOnError)
	var s Spec
	var files, ep, env, labels list
	out := fs.String("out", "", "archive to write")
	fs.StringVar(&s.Tag, "tag", "", "image reference, e.g. registry.k8s.io/pause:3.10.2")
	fs.StringVar(&s.Base, "base", "", "root filesystem tar for the first layer")
	fs.Var(&files, "file", "SRC:DST file to add (repeatable)")
	fs.Var(&ep, "entrypoint", "entrypoint argument (repeatable)")
	fs.Var(&env, "env", "K=V environment entry (repeatable)")
	fs.Var(&labels, "label", "K=V image label (repeatable)")
	fs.StringVar(&s.StopSignal, "stop-signal", "", "signal that stops the container, e.g. SIGRTMIN+3 for systemd")
	_ = fs.Parse(os.Args[2:])
	s.Files, s.Entrypoint, s.Env = files, ep, env
	for _, l := range labels {
		k, v, _ := strings.Cut(l, "=")
		if s.Labels == nil {
			s.Labels = map[string]string{}
		}
		s.Labels[k] = v
	}
	if err := writeFile(*out, s); err != nil {
		fmt.Fprintf(os.Stderr, "imagetool: %v\n", err)
		os.Exit(1)
	}
}

func writeFile(out string, s Spec) error {
	if out == "" || s.Tag == "" {
		return errors.New("--out and --tag are required")
	}
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := Write(f, s); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

// Write writes s as a docker-archive to w.
func Write(w io.Writer, s Spec) error {
	dir, err := os.MkdirTemp("", "imagetool-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	var layers []string // files on disk, in order
	if s.Base != "" {
		layers = append(layers, s.Base)
	}
	if len(s.Files) > 0 {
		l := path.Join(dir, "files.tar")
		if err := filesLayer(l, s.Files); err != nil {
			return err
		}
		layers = append(layers, l)
	}
	if len(layers) == 0 {
		return errors.New("an image needs --base or at least one --file")
	}
	diffIDs := make([]string, len(layers))
	for i, l := range layers {
		if diffIDs[i], err = sha256File(l); err != nil {
			return err
		}
	}
	created := time.Now().UTC().Truncate(time.Second)
	cfg := map[string]any{
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"created":      created,
		"config":       map[string]any{"Env": s.Env, "Entrypoint": s.Entrypoint, "Labels": s.Labels, "StopSignal": s.StopSignal},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": prefixed(diffIDs)},
		"history":      []map[string]any{{"created": created, "created_by": "hybridcni imagetool"}},
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	cfgSum := sha256.Sum256(cfgJSON)
	cfgName := hex.EncodeToString(cfgSum[:]) + ".json"

	tw := tar.NewWriter(w)
	var layerNames []string
	for i, l := range layers {
		name := diffIDs[i] + "/layer.tar"
		layerNames = append(layerNames, name)
		if err := addFile(tw, name, l); err != nil {
			return err
		}
	}
	if err := addBytes(tw, cfgName, cfgJSON); err != nil {
		return err
	}
	manifest, _ := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{s.Tag}, "Layers": layerNames}})
	if err := addBytes(tw, "manifest.json", manifest); err != nil {
		return err
	}
	return tw.Close()
}

// filesLayer writes a layer tar holding each SRC at DST with its parents.
func filesLayer(out string, specs []string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	dirs := map[string]bool{}
	for _, spec := range specs {
		src, dst, ok := strings.Cut(spec, ":")
		if !ok || !path.IsAbs(dst) {
			return fmt.Errorf("--file %q: want SRC:/absolute/destination", spec)
		}
		dst = strings.TrimPrefix(path.Clean(dst), "/")
		var parents []string
		for d := path.Dir(dst); d != "."; d = path.Dir(d) {
			parents = append([]string{d}, parents...)
		}
		for _, d := range parents {
			if dirs[d] {
				continue
			}
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: time.Unix(0, 0)}); err != nil {
				return err
			}
		}
		if err := addFile(tw, dst, src); err != nil {
			return fmt.Errorf("--file %q: %w", spec, err)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}

func addFile(tw *tar.Writer, name, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: st.Size(), Mode: int64(st.Mode().Perm()), ModTime: time.Unix(0, 0)}); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}

func addBytes(tw *tar.Writer, name string, b []byte) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(b)), Mode: 0o644, ModTime: time.Unix(0, 0)}); err != nil {
		return err
	}
	_, err := tw.Write(b)
	return err
}

func sha256File(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func prefixed(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = "sha256:" + id
	}
	return out
}
