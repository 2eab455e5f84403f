package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSpecFile(t *testing.T) {
	cases := []struct {
		args      []string
		file, key string
	}{
		{[]string{"--root", "/run/runc", "--log", "/x/log.json", "--log-format", "json", "create", "--bundle", "/b", "id"}, "/b/config.json", "process"},
		{[]string{"--systemd-cgroup", "create", "-b=/c", "id"}, "/c/config.json", "process"},
		{[]string{"run", "id"}, "config.json", "process"},
		{[]string{"--root", "/r", "exec", "--process", "/tmp/p.json", "--detach", "id"}, "/tmp/p.json", ""},
		{[]string{"exec", "--cap", "CAP_NET_ADMIN", "id", "sh"}, "", ""},
		{[]string{"--root", "/r", "start", "id"}, "", ""},
		{[]string{"--root", "create", "state", "id"}, "", ""}, // "create" is --root's value
		{[]string{"--version"}, "", ""},
	}
	for _, c := range cases {
		file, key, err := specFile(c.args)
		if err != nil || file != c.file || key != c.key {
			t.Errorf("specFile(%q) = %q, %q, %v; want %q, %q", c.args, file, key, err, c.file, c.key)
		}
	}
}

func writeJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestRewriteDropsUnheldCapsOnly(t *testing.T) {
	all := []string{"CAP_CHOWN", "CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_SYS_RESOURCE", "CAP_FUTURE_THING"}
	f := writeJSON(t, map[string]any{
		"ociVersion": "1.0.2",
		"process": map[string]any{
			"user": map[string]any{"uid": 4294967294},
			"capabilities": map[string]any{
				"bounding": all, "effective": all, "permitted": all, "inheritable": all,
			},
		},
	})
	held := uint64(1)<<0 | 1<<12 | 1<<21 // no CAP_SYS_RESOURCE (24)
	if err := rewrite(f, "process", held); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Process struct {
			User struct {
				UID json.Number `json:"uid"`
			} `json:"user"`
			Capabilities map[string][]string `json:"capabilities"`
		} `json:"process"`
	}
	raw, _ := os.ReadFile(f)
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	want := []string{"CAP_CHOWN", "CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_FUTURE_THING"}
	for _, set := range []string{"bounding", "effective", "permitted", "inheritable"} {
		if !reflect.DeepEqual(got.Process.Capabilities[set], want) {
			t.Errorf("%s = %v, want %v", set, got.Process.Capabilities[set], want)
		}
	}
	if got.Process.User.UID != "4294967294" {
		t.Errorf("uid rewritten as %s; large numbers must survive exactly", got.Process.User.UID)
	}
}

func TestRewriteLeavesHeldSpecUntouched(t *testing.T) {
	f := writeJSON(t, map[string]any{"capabilities": map[string]any{"bounding": []string{"CAP_CHOWN"}}})
	before, _ := os.ReadFile(f)
	st, _ := os.Stat(f)
	if err := rewrite(f, "", 1); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(f)
	st2, _ := os.Stat(f)
	if string(before) != string(after) || !st.ModTime().Equal(st2.ModTime()) {
		t.Fatalf("spec holding only held capabilities was rewritten:\n%s\n%s", before, after)
	}
}

func TestRewriteProcessFileForExec(t *testing.T) {
	f := writeJSON(t, map[string]any{"args": []string{"sh"}, "capabilities": map[string]any{"bounding": []string{"CAP_SYS_RESOURCE", "CAP_KILL"}}})
	if err := rewrite(f, "", 1<<5); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Capabilities map[string][]string `json:"capabilities"`
	}
	raw, _ := os.ReadFile(f)
	_ = json.Unmarshal(raw, &got)
	if want := []string{"CAP_KILL"}; !reflect.DeepEqual(got.Capabilities["bounding"], want) {
		t.Fatalf("bounding = %v, want %v", got.Capabilities["bounding"], want)
	}
}

func TestRewriteBadSpecNamesFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "config.json")
	_ = os.WriteFile(f, []byte("{not json"), 0o600)
	err := rewrite(f, "process", 0)
	if err == nil || !strings.Contains(err.Error(), f) {
		t.Fatalf("err = %v, want one naming %s", err, f)
	}
}

func TestHostCapsReadsBoundingSet(t *testing.T) {
	held, err := hostCaps()
	if err != nil {
		t.Fatal(err)
	}
	if held&1 == 0 && os.Geteuid() == 0 {
		t.Fatalf("bounding set %x lacks CAP_CHOWN while running as root", held)
	}
}

func TestConfigureDockerKeepsOtherSettingsAndIsIdempotent(t *testing.T) {
	f := filepath.Join(t.TempDir(), "daemon.json")
	_ = os.WriteFile(f, []byte(`{"log-level":"warn","runtimes":{"other":{"path":"/x"}},"mtu":1450}`), 0o644)
	changed, err := configureDocker(f, "/usr/local/sbin/runc-capfix")
	if err != nil || !changed {
		t.Fatalf("first run: changed=%v err=%v, want a change", changed, err)
	}
	var got map[string]any
	raw, _ := os.ReadFile(f)
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	rt := got["runtimes"].(map[string]any)
	if got["default-runtime"] != RuntimeName || rt[RuntimeName].(map[string]any)["path"] != "/usr/local/sbin/runc-capfix" ||
		rt["other"] == nil || got["log-level"] != "warn" || got["mtu"] != float64(1450) {
		t.Fatalf("daemon.json = %s", raw)
	}
	changed, err = configureDocker(f, "/usr/local/sbin/runc-capfix")
	if err != nil || changed {
		t.Fatalf("second run: changed=%v err=%v, want no change", changed, err)
	}
}

func TestConfigureDockerRejectsBrokenFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "daemon.json")
	_ = os.WriteFile(f, []byte(`{"log-level":`), 0o644)
	_, err := configureDocker(f, "/bin/x")
	if err == nil || !strings.Contains(err.Error(), "not valid JSON") {
		t.Fatalf("err = %v, want one saying the file is not valid JSON", err)
	}
	if raw, _ := os.ReadFile(f); string(raw) != `{"log-level":` {
		t.Fatalf("broken file was overwritten: %s", raw)
	}
}

func TestRewriteWidensPrivilegedToNewerHeldCaps(t *testing.T) {
	var classic []string
	for _, n := range capNames() {
		if capBits[n] <= classicLast {
			classic = append(classic, n)
		}
	}
	cilium := []string{"CAP_CHOWN", "CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_SYS_RESOURCE", "CAP_PERFMON"}
	f := writeJSON(t, map[string]any{"process": map[string]any{"capabilities": map[string]any{
		"bounding": classic, "effective": classic, "ambient": cilium,
	}}})
	held := (uint64(1)<<41 - 1) &^ (1 << 24) &^ (1 << 40) // no CAP_SYS_RESOURCE, no CAP_CHECKPOINT_RESTORE
	if err := rewrite(f, "process", held); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Process struct {
			Capabilities map[string][]string `json:"capabilities"`
		} `json:"process"`
	}
	raw, _ := os.ReadFile(f)
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	for _, set := range []string{"bounding", "effective"} {
		s := strings.Join(got.Process.Capabilities[set], " ")
		for _, want := range []string{"CAP_SYS_ADMIN", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF"} {
			if !strings.Contains(s, want) {
				t.Errorf("%s lacks %s: %s", set, want, s)
			}
		}
		for _, unwanted := range []string{"CAP_SYS_RESOURCE", "CAP_CHECKPOINT_RESTORE"} {
			if strings.Contains(s, unwanted) {
				t.Errorf("%s has %s, which the host withholds: %s", set, unwanted, s)
			}
		}
	}
	// An explicit list is not privileged: only the unheld cap goes.
	if want := []string{"CAP_CHOWN", "CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_PERFMON"}; !reflect.DeepEqual(got.Process.Capabilities["ambient"], want) {
		t.Errorf("explicit set = %v, want %v", got.Process.Capabilities["ambient"], want)
	}
}
