package nodeimage

import (
	"os/exec"
	"strings"
	"testing"
)

// bashWithLib runs script after sourcing hack/nodeimage/lib.sh, with log and
// die as the build scripts define them.
func bashWithLib(t *testing.T, script string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not installed")
	}
	prelude := `set -euo pipefail
log() { printf 'test: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
source ../../hack/nodeimage/lib.sh
`
	out, err := exec.Command("bash", "-c", prelude+script).CombinedOutput()
	return string(out), err
}

// A root filesystem built in the background: rootfs_wait returns once it
// is there, and stops the build naming the one that failed.
func TestRootfsWaitNamesTheFailedRootFilesystem(t *testing.T) {
	out, err := bashWithLib(t, `
rootfs() { sleep 0.2; [[ $1 != cilium ]] || die "debootstrap $1 failed"; }
rootfs_start node a b
rootfs_start cilium c
rootfs_wait node
echo "node is there"
rootfs_wait cilium
echo "not reached"
`)
	if err == nil || !strings.Contains(out, "node is there") || strings.Contains(out, "not reached") ||
		!strings.Contains(out, "the cilium root filesystem failed") {
		t.Fatalf("rootfs_wait: err %v, output:\n%s", err, out)
	}
}

// rootfs_stop (the build scripts' exit traps) ends a background debootstrap
// and what it started, so an interrupted build leaves nothing running.
func TestRootfsStopEndsTheBackgroundBuild(t *testing.T) {
	out, err := bashWithLib(t, `
rootfs() { sh -c 'sleep 37' ; }
rootfs_start node
sleep 0.3
pgrep -x -f 'sleep 37' >/dev/null || { echo "the background build did not start"; exit 1; }
rootfs_stop
sleep 0.3
if pgrep -x -f 'sleep 37' >/dev/null; then echo "still running"; exit 1; fi
echo stopped
`)
	if err != nil || !strings.Contains(out, "stopped") {
		t.Fatalf("rootfs_stop: err %v, output:\n%s", err, out)
	}
}
