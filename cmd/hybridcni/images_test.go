package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hybridcni/hybridcni/framework/chart/charttest"
)

func TestImagesListDerivesFromTheCharts(t *testing.T) {
	dir := charttest.Dir(t)
	var out, errOut bytes.Buffer
	if code := execute([]string{"images", "list", "--chart-repo", dir, "--version", "1.16.19", "-o", "json"}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var rows []struct {
		Ref, For string
	}
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
		t.Fatalf("%v:\n%s", err, out.String())
	}
	var all []string
	for _, r := range rows {
		all = append(all, r.Ref+" ("+r.For+")")
	}
	got := strings.Join(all, "\n")
	for _, want := range []string{"kindest/node:v1.37.0@sha256:", "(kind node)", "hybridcni/router:", "quay.io/cilium/cilium:v1.16.19", "(cilium 1.16.19 chart)"} {
		if !strings.Contains(got, want) {
			t.Errorf("images list lacks %q:\n%s", want, got)
		}
	}
}

func TestImagesSaveNamesWhatIsMissing(t *testing.T) {
	dir := charttest.Dir(t)
	dockerOrSkip(t)
	tar := filepath.Join(t.TempDir(), "images.tar")
	var out, errOut bytes.Buffer
	code := execute([]string{"images", "save", "--chart-repo", dir, "--archive", tar}, &out, &errOut)
	if code != exitFailure || !strings.Contains(errOut.String(), "not present locally: ") || !strings.Contains(errOut.String(), "quay.io/cilium/cilium:v1.16.19") {
		t.Fatalf("exit %d, stderr %q; want 1 naming the absent images", code, errOut.String())
	}
	for _, args := range [][]string{{"images", "save", "--chart-repo", dir}, {"images", "load"}, {"images", "load", "--archive", filepath.Join(dir, "nope.tar")}} {
		errOut.Reset()
		if code := execute(args, &out, &errOut); code != exitInvalid {
			t.Errorf("%v: exit %d (%s), want 2", args, code, errOut.String())
		}
	}
}
