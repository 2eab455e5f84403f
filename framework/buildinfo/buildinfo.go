// Package buildinfo is the harness's own build: its version, set at link
// time, and what the Go toolchain recorded (commit, Go version). Version
// arithmetic on CNI and Kubernetes versions is framework/versions.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is set with -ldflags "-X github.com/hybridcni/hybridcni/framework/buildinfo.Version=...".
var Version = "dev"

// Info is what `hybridcni version` prints.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get is this binary's build information.
func Get() Info {
	i := Info{Version: Version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				i.Commit = s.Value
			case "vcs.modified":
				i.Modified = s.Value == "true"
			}
		}
	}
	return i
}

// String is the one-line form: "hybridcni dev (commit abc1234, go1.26.8 linux/amd64)".
func (i Info) String() string {
	s := "hybridcni " + i.Version + " ("
	if i.Commit != "" {
		c := i.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		if i.Modified {
			c += "+modified"
		}
		s += "commit " + c + ", "
	}
	return s + fmt.Sprintf("%s %s)", i.GoVersion, i.Platform)
}
