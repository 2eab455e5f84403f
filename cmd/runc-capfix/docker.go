package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

// RuntimeName is the name the wrapper is registered under in daemon.json.
const RuntimeName = "runc-capfix"

// configureDockerMain: configure-docker [--config FILE] --path BIN. Prints
// "changed" or "unchanged"; the caller reloads dockerd only on "changed".
func configureDockerMain(args []string) int {
	fs := flag.NewFlagSet("configure-docker", flag.ContinueOnError)
	cfg := fs.String("config", "/etc/docker/daemon.json", "Docker daemon configuration file")
	bin := fs.String("path", "", "absolute path of the installed runc-capfix binary")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if !filepath.IsAbs(*bin) {
		fmt.Fprintln(os.Stderr, "runc-capfix configure-docker: --path must be the absolute path of the installed binary")
		return 2
	}
	changed, err := configureDocker(*cfg, *bin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "runc-capfix configure-docker: %v\n", err)
		return 1
	}
	if changed {
		fmt.Println("changed")
	} else {
		fmt.Println("unchanged")
	}
	return 0
}

// configureDocker makes bin the default runtime in the daemon.json at file,
// keeping every other setting. It writes only when something changes.
func configureDocker(file, bin string) (bool, error) {
	doc := map[string]any{}
	raw, err := os.ReadFile(file)
	switch {
	case os.IsNotExist(err):
	case err != nil:
		return false, err
	case len(bytes.TrimSpace(raw)) > 0:
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			return false, fmt.Errorf("%s is not valid JSON (%v): fix or remove it, then run again", file, err)
		}
	}
	runtimes, _ := doc["runtimes"].(map[string]any)
	if runtimes == nil {
		runtimes = map[string]any{}
	}
	cur, _ := runtimes[RuntimeName].(map[string]any)
	if cur != nil && cur["path"] == bin && len(cur) == 1 && doc["default-runtime"] == RuntimeName {
		return false, nil
	}
	runtimes[RuntimeName] = map[string]any{"path": bin}
	doc["runtimes"] = runtimes
	doc["default-runtime"] = RuntimeName
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return false, err
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, append(out, '\n'), 0o644); err != nil {
		return false, err
	}
	return true, os.Rename(tmp, file)
}
