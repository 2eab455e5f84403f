// Command runc-capfix is an OCI runtime that removes from a container's
// capability sets every capability the host itself does not have, then runs
// runc with the same arguments.
//
// Some VMs withhold capabilities (here CAP_SYS_RESOURCE) from every process,
// while Docker 20.10 asks for all known capabilities under --privileged, so
// runc fails with "unable to apply caps: operation not permitted". Set as the
// engine's default runtime (hack/docker-runtime.sh), privileged containers
// (kind nodes, `docker exec --privileged`) start with every capability the
// host can grant. A set asking for every capability the engine knows
// (--privileged on an engine older than Linux 5.8's CAP_PERFMON and CAP_BPF)
// also gets the newer ones the host holds. Other specs asking only for held
// capabilities pass unchanged.
//
// `runc-capfix configure-docker` registers it in Docker's daemon.json as the
// default runtime (see docker.go).
//
// It rewrites the bundle's config.json for `create` and `run`, and the
// --process file for `exec`. RUNC_CAPFIX_RUNC names the real runc (default:
// runc on PATH, which must not be this program).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "configure-docker" {
		os.Exit(configureDockerMain(args[1:]))
	}
	if err := fixCaps(args); err != nil {
		fmt.Fprintf(os.Stderr, "runc-capfix: %v\n", err)
		os.Exit(1)
	}
	runc, err := realRunc()
	if err != nil {
		fmt.Fprintf(os.Stderr, "runc-capfix: %v\n", err)
		os.Exit(1)
	}
	err = syscall.Exec(runc, append([]string{runc}, args...), os.Environ())
	fmt.Fprintf(os.Stderr, "runc-capfix: exec %s: %v\n", runc, err)
	os.Exit(1)
}

// fixCaps rewrites the spec file the runc invocation args will read, if any.
func fixCaps(args []string) error {
	file, key, err := specFile(args)
	if err != nil || file == "" {
		return err
	}
	held, err := hostCaps()
	if err != nil {
		return err
	}
	return rewrite(file, key, held)
}

// runc's global options that take a value (they come before the command).
var globalWithValue = map[string]bool{"--root": true, "--log": true, "--log-format": true, "--criu": true, "--rootless": true}

// specFile finds the JSON file holding the capabilities for this call: the
// bundle's config.json (create, run; key "process") or the --process file
// (exec; top level, key ""). Other commands need nothing.
func specFile(args []string) (file, key string, err error) {
	cmd := -1
	for i := 0; i < len(args); i++ {
		a := args[i]
		if globalWithValue[a] {
			i++
			continue
		}
		if !strings.HasPrefix(a, "-") {
			cmd = i
			break
		}
	}
	if cmd < 0 {
		return "", "", nil
	}
	rest := args[cmd+1:]
	switch args[cmd] {
	case "create", "run":
		bundle := flagValue(rest, "--bundle", "-b")
		if bundle == "" {
			bundle = "."
		}
		return filepath.Join(bundle, "config.json"), "process", nil
	case "exec":
		// Without --process the capabilities come from --cap flags, which
		// the caller chose; only a process file can carry the full set.
		return flagValue(rest, "--process", "-p"), "", nil
	}
	return "", "", nil
}

// flagValue returns the value of a long/short flag given as "-f v", "-f=v".
func flagValue(args []string, long, short string) string {
	for i, a := range args {
		if a == "--" {
			break
		}
		for _, name := range []string{long, short} {
			if a == name && i+1 < len(args) {
				return args[i+1]
			}
			if v, ok := strings.CutPrefix(a, name+"="); ok {
				return v
			}
		}
	}
	return ""
}

// hostCaps reads the bounding set of this process: what the host can grant.
func hostCaps() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "CapBnd:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	if err := s.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no CapBnd line in /proc/self/status")
}

// rewrite removes from the capability sets in file (under key, or at the top
// level when key is "") every capability whose bit is not in held. The file
// is left untouched when nothing needs removing.
func rewrite(file, key string, held uint64) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read spec: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // keep uids, limits and the like exactly as written
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("parse %s: %w", file, err)
	}
	proc := doc
	if key != "" {
		p, ok := doc[key].(map[string]any)
		if !ok {
			return nil
		}
		proc = p
	}
	caps, ok := proc["capabilities"].(map[string]any)
	if !ok {
		return nil
	}
	dropped := filterSets(caps, held)
	widened := widenPrivileged(caps, held)
	if !dropped && !widened {
		return nil
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	tmp := file + ".capfix"
	if err := os.WriteFile(tmp, out, 0o600); err != nil {
		return fmt.Errorf("write spec: %w", err)
	}
	return os.Rename(tmp, file)
}

// filterSets drops unheld capabilities from every set; reports a change.
// Names it does not know are kept: runc judges them.
func filterSets(caps map[string]any, held uint64) bool {
	changed := false
	for set, v := range caps {
		list, ok := v.([]any)
		if !ok {
			continue
		}
		kept := list[:0:0]
		for _, c := range list {
			name, _ := c.(string)
			if bit, known := capBits[strings.ToUpper(name)]; known && held&(1<<bit) == 0 {
				changed = true
				continue
			}
			kept = append(kept, c)
		}
		caps[set] = kept
	}
	return changed
}

// classicLast is CAP_AUDIT_READ, the last capability engines that predate
// Linux 5.8 know (Docker 20.10, containerd 1.6).
const classicLast = 37

// widenPrivileged gives a set that asks for every classic capability the
// host holds (what such an engine writes for --privileged) the newer ones
// the host also holds (CAP_PERFMON, CAP_BPF, CAP_CHECKPOINT_RESTORE), so
// privileged means every capability, as on a current engine. Sets naming
// fewer capabilities are left as they are. Reports a change.
func widenPrivileged(caps map[string]any, held uint64) bool {
	changed := false
	for set, v := range caps {
		list, ok := v.([]any)
		if !ok {
			continue
		}
		var have uint64
		for _, c := range list {
			name, _ := c.(string)
			if bit, known := capBits[strings.ToUpper(name)]; known {
				have |= 1 << bit
			}
		}
		classic := held & (1<<(classicLast+1) - 1)
		if have&classic != classic {
			continue
		}
		for _, name := range capNames() {
			bit := capBits[name]
			if bit > classicLast && held&(1<<bit) != 0 && have&(1<<bit) == 0 {
				list = append(list, name)
				changed = true
			}
		}
		caps[set] = list
	}
	return changed
}

// capNames lists the known capability names in bit order.
func capNames() []string {
	names := make([]string, len(capBits))
	for n, b := range capBits {
		names[b] = n
	}
	return names
}

// realRunc finds the runc to run: RUNC_CAPFIX_RUNC, else runc on PATH.
func realRunc() (string, error) {
	if p := os.Getenv("RUNC_CAPFIX_RUNC"); p != "" {
		return p, nil
	}
	self, _ := os.Executable()
	for _, p := range []string{"/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc", "/usr/local/bin/runc"} {
		if same(p, self) {
			continue
		}
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	p, err := exec.LookPath("runc")
	if err != nil || same(p, self) {
		return "", errors.New("no runc found: install runc or set RUNC_CAPFIX_RUNC to its path")
	}
	return p, nil
}

func same(a, b string) bool {
	if b == "" {
		return false
	}
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	return err1 == nil && err2 == nil && ra == rb
}

// capBits maps capability names to their bit numbers (linux/capability.h).
var capBits = map[string]uint{
	"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3,
	"CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8,
	"CAP_LINUX_IMMUTABLE": 9, "CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11,
	"CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15,
	"CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19,
	"CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21, "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23,
	"CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27,
	"CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31,
	"CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33, "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35,
	"CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37, "CAP_PERFMON": 38, "CAP_BPF": 39,
	"CAP_CHECKPOINT_RESTORE": 40,
}
