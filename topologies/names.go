package topologies

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"
)

// Labels carried by every object the harness creates, so `hybridcni gc` can find them.
const (
	LabelRun     = "hybridcni.dev/run"
	LabelCreated = "hybridcni.dev/created"
	LabelRole    = "hybridcni.dev/role"
)

// NamePrefix starts every cluster, network and container name the harness makes.
const NamePrefix = "hcni-"

// maxClusterName keeps "<cluster>-control-plane" a valid host name.
const maxClusterName = 40

// UniqueName returns a name for a run's infrastructure: prefix, a readable
// part of the run name and a random suffix, so several runs share a host.
func UniqueName(runName string) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	suffix := hex.EncodeToString(b[:])
	base := strings.Trim(runName, "-")
	if room := maxClusterName - len(NamePrefix) - len(suffix) - 1; len(base) > room {
		base = strings.TrimRight(base[:room], "-")
	}
	if base == "" {
		return NamePrefix + suffix
	}
	return NamePrefix + base + "-" + suffix
}

// ObjectLabels are the labels put on every object of a run.
func ObjectLabels(name string, now time.Time) map[string]string {
	return map[string]string{LabelRun: name, LabelCreated: now.UTC().Format(time.RFC3339)}
}
