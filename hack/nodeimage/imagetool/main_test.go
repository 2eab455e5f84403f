package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readArchive returns the entries of a tar by name.
func readArchive(t *testing.T, r io.Reader) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[h.Name] = b
		if h.Typeflag == tar.TypeReg && h.Mode&0o111 != 0 {
			out[h.Name+"#exec"] = nil
		}
	}
}

func TestArchiveLayersMatchConfig(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "pause")
	_ = os.WriteFile(bin, []byte("#!binary"), 0o755)
	base := filepath.Join(dir, "base.tar")
	var bb bytes.Buffer
	tw := tar.NewWriter(&bb)
	_ = tw.WriteHeader(&tar.Header{Name: "etc/os-release", Size: 6, Mode: 0o644})
	_, _ = tw.Write([]byte("debian"))
	_ = tw.Close()
	_ = os.WriteFile(base, bb.Bytes(), 0o644)

	var buf bytes.Buffer
	err := Write(&buf, Spec{Tag: "registry.k8s.io/pause:3.10.2", Base: base,
		Files: []string{bin + ":/usr/local/bin/pause"}, Entrypoint: []string{"/usr/local/bin/pause"}, Env: []string{"PATH=/usr/bin"}, Labels: map[string]string{"a": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	entries := readArchive(t, &buf)
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(entries["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		t.Fatalf("manifest.json: %v %s", err, entries["manifest.json"])
	}
	m := manifest[0]
	if len(m.RepoTags) != 1 || m.RepoTags[0] != "registry.k8s.io/pause:3.10.2" || len(m.Layers) != 2 {
		t.Fatalf("manifest = %+v", m)
	}
	var cfg struct {
		Config struct {
			Entrypoint, Env []string
			Labels          map[string]string
		}
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(entries[m.Config], &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Config.Entrypoint[0] != "/usr/local/bin/pause" || cfg.Config.Env[0] != "PATH=/usr/bin" || cfg.Config.Labels["a"] != "b" {
		t.Fatalf("config = %+v", cfg.Config)
	}
	sum := sha256.Sum256(entries[m.Config])
	if m.Config != hex.EncodeToString(sum[:])+".json" {
		t.Fatalf("config file %s is not named by its digest", m.Config)
	}
	for i, l := range m.Layers {
		s := sha256.Sum256(entries[l])
		if cfg.RootFS.DiffIDs[i] != "sha256:"+hex.EncodeToString(s[:]) {
			t.Fatalf("layer %d: diff_id %s does not match its content", i, cfg.RootFS.DiffIDs[i])
		}
	}
	if !bytes.Equal(entries[m.Layers[0]], bb.Bytes()) {
		t.Fatal("base layer is not the base tar as given")
	}
	files := readArchive(t, bytes.NewReader(entries[m.Layers[1]]))
	if string(files["usr/local/bin/pause"]) != "#!binary" {
		t.Fatalf("files layer holds %v", keys(files))
	}
	if _, ok := files["usr/local/bin/pause#exec"]; !ok {
		t.Fatal("executable bit lost")
	}
	for _, d := range []string{"usr/", "usr/local/", "usr/local/bin/"} {
		if _, ok := files[d]; !ok {
			t.Fatalf("parent directory %s missing: %v", d, keys(files))
		}
	}
}

func TestArchiveRejectsBadInput(t *testing.T) {
	if err := Write(io.Discard, Spec{Tag: "x:1"}); err == nil || !strings.Contains(err.Error(), "--base or at least one --file") {
		t.Fatalf("empty image: err = %v", err)
	}
	if err := Write(io.Discard, Spec{Tag: "x:1", Files: []string{"relative"}}); err == nil || !strings.Contains(err.Error(), "SRC:/absolute/destination") {
		t.Fatalf("bad --file: err = %v", err)
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
