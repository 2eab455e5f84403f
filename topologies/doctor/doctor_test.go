package doctor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeEngine answers image look-ups from a set.
type fakeEngine map[string]bool

func (f fakeEngine) ImageExists(_ context.Context, ref string) (bool, error) { return f[ref], nil }
func (fakeEngine) RootDir(context.Context) (string, error)                   { return "/var/lib/docker", nil }

// machine writes a fake /proc and /sys tree.
func machine(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func good() map[string]string {
	return map[string]string{
		"sys/module/vxlan/refcnt":                  "0",
		"sys/module/nf_tables/refcnt":              "0",
		"sys/fs/cgroup/cgroup.controllers":         "cpu memory",
		"proc/sys/fs/inotify/max_user_watches":     "1048576",
		"proc/sys/fs/inotify/max_user_instances":   "8192",
		"proc/meminfo":                             "MemTotal: 16000000 kB\nMemAvailable:   12000000 kB\n",
		"proc/sys/kernel/osrelease":                "6.1.0-test\n",
		"lib/modules/6.1.0-test/modules.dep":       "kernel/net/ipv4/netfilter/ip_tables.ko.xz:\n",
		"lib/modules/6.1.0-test/modules.builtin":   "kernel/net/bridge/bridge.ko\n",
		"var/lib/docker/.keep":                     "",
		"proc/sys/fs/inotify/max_queued_events":    "16384",
		"sys/module/ip_tables/parameters/.keep":    "",
		"sys/module/br_netfilter/parameters/.keep": "",
	}
}

const nodeImage = "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5"

func opts(root string, eng Engine, free uint64) Options {
	return Options{
		Docker: eng, Cluster: true, Nodes: 3, NodeImage: nodeImage,
		Images: []string{"quay.io/cilium/cilium:v1.16.19", "hybridcni/router:dev"},
		Root:   root, LookPath: func(string) (string, error) { return "/usr/bin/docker", nil },
		FreeBytes:       func(string) (uint64, error) { return free, nil },
		ProbePrivileged: func(context.Context) error { return nil },
		ProbeRegistry:   func(context.Context, string) error { return errors.New("refused") },
	}
}

func find(r Report, check string) Finding {
	for _, f := range r.Findings {
		if f.Check == check {
			return f
		}
	}
	return Finding{}
}

func TestGoodMachinePasses(t *testing.T) {
	eng := fakeEngine{nodeImage: true, "quay.io/cilium/cilium:v1.16.19": true, "hybridcni/router:dev": true}
	r := Run(context.Background(), opts(machine(t, good()), eng, 50*gib))
	if err := r.Err(); err != nil {
		t.Fatalf("good machine blocked: %v", err)
	}
	for _, f := range r.Findings {
		if f.Severity != OK {
			t.Errorf("%s is %s: %s", f.Check, f.Severity, f.Message)
		}
	}
	if len(r.Findings) < 10 {
		t.Errorf("only %d findings: %+v", len(r.Findings), r.Findings)
	}
}

func TestEachProblemIsFoundWithItsFix(t *testing.T) {
	cases := map[string]struct {
		edit     func(m map[string]string, o *Options)
		check    string
		severity Severity
		want     string
	}{
		"no engine": {func(m map[string]string, o *Options) {
			o.Docker = nil
			o.DockerErr = errors.New("no Docker engine answers at unix:///x")
		},
			"docker-engine", Blocker, "unix:///x"},
		"no docker CLI": {func(m map[string]string, o *Options) {
			o.LookPath = func(string) (string, error) { return "", errors.New("not found") }
		}, "docker-cli", Blocker, "kind drives"},
		"privileged refused": {func(m map[string]string, o *Options) {
			o.ProbePrivileged = func(context.Context) error { return errors.New("unable to apply caps: operation not permitted") }
		}, "privileged-containers", Blocker, "unable to apply caps"},
		"privileged not checked": {func(m map[string]string, o *Options) { o.ProbePrivileged = nil },
			"privileged-containers", Warning, "not checked"},
		"cgroup v1": {func(m map[string]string, o *Options) { delete(m, "sys/fs/cgroup/cgroup.controllers") }, "cgroups", Warning, "failCgroupV1"},
		"no vxlan":  {func(m map[string]string, o *Options) { delete(m, "sys/module/vxlan/refcnt") }, "kernel-vxlan", Blocker, "VXLAN overlay"},
		"vxlan loadable": {func(m map[string]string, o *Options) {
			delete(m, "sys/module/vxlan/refcnt")
			m["lib/modules/6.1.0-test/modules.dep"] += "kernel/drivers/net/vxlan/vxlan.ko.xz: kernel/net/ipv4/udp_tunnel.ko.xz\n"
		}, "kernel-vxlan", OK, "loadable"},
		"no packet filter": {func(m map[string]string, o *Options) {
			delete(m, "sys/module/nf_tables/refcnt")
			delete(m, "sys/module/ip_tables/parameters/.keep")
			m["lib/modules/6.1.0-test/modules.dep"] = ""
		}, "kernel-packet-filter", Blocker, "neither ip_tables nor nf_tables"},
		"ip_tables built in": {func(m map[string]string, o *Options) {
			delete(m, "sys/module/nf_tables/refcnt")
			delete(m, "sys/module/ip_tables/parameters/.keep")
			m["lib/modules/6.1.0-test/modules.dep"] = ""
			m["proc/net/ip_tables_names"] = "nat\nfilter\n"
		}, "kernel-packet-filter", OK, "ip_tables present (/proc/net/ip_tables_names)"},
		"low inotify": {func(m map[string]string, o *Options) { m["proc/sys/fs/inotify/max_user_instances"] = "128" },
			"inotify-max-user-instances", Warning, "is 128"},
		"little disk": {func(m map[string]string, o *Options) { o.FreeBytes = func(string) (uint64, error) { return gib, nil } },
			"disk", Blocker, "1.0 GiB free"},
		"some disk": {func(m map[string]string, o *Options) {
			o.FreeBytes = func(string) (uint64, error) { return 5 * gib, nil }
		},
			"disk", Warning, "5.0 GiB free"},
		"little memory": {func(m map[string]string, o *Options) { m["proc/meminfo"] = "MemAvailable: 900000 kB\n" },
			"memory", Blocker, "needs about 2.5 GiB"},
		"node image absent, registry refuses": {func(m map[string]string, o *Options) { o.Docker = fakeEngine{} },
			"node-image", Blocker, "node image " + nodeImage + " is absent and no registry answers (registry registry-1.docker.io does not answer: refused)"},
		"node image absent, offline": {func(m map[string]string, o *Options) { o.Docker = fakeEngine{}; o.Offline = true },
			"node-image", Blocker, "is absent and no registry answers (registry not checked, offline"},
		"harness image buildable": {func(m map[string]string, o *Options) {
			o.Docker = fakeEngine{nodeImage: true, "quay.io/cilium/cilium:v1.16.19": true}
			o.Buildable = func(ref string) bool { return strings.HasPrefix(ref, "hybridcni/") }
		}, "image hybridcni/router:dev", OK, "hybridcni/router:dev is absent locally; it will be built"},
		"harness image absent, not buildable": {func(m map[string]string, o *Options) {
			o.Docker = fakeEngine{nodeImage: true, "quay.io/cilium/cilium:v1.16.19": true}
		}, "image hybridcni/router:dev", Blocker, "hybridcni/router:dev is absent"},
		"node image absent, a local one offered": {func(m map[string]string, o *Options) {
			o.Docker = fakeEngine{}
			o.Offline = true
			o.LocalNodeImages = []string{"hybridcni/node:v1.37.2"}
		}, "node-image", Blocker, "is absent and no registry answers"},
		"node image absent, registry answers": {func(m map[string]string, o *Options) {
			o.Docker = fakeEngine{}
			o.ProbeRegistry = func(context.Context, string) error { return nil }
		}, "node-image", OK, "it will be pulled"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			m := good()
			o := opts("", fakeEngine{nodeImage: true, "quay.io/cilium/cilium:v1.16.19": true, "hybridcni/router:dev": true}, 50*gib)
			c.edit(m, &o)
			o.Root = machine(t, m)
			r := Run(context.Background(), o)
			f := find(r, c.check)
			if f.Severity != c.severity || !strings.Contains(f.Message, c.want) {
				t.Fatalf("%s = %s %q; want %s containing %q", c.check, f.Severity, f.Message, c.severity, c.want)
			}
			if f.Severity != OK && f.Fix == "" {
				t.Errorf("%s has no fix", c.check)
			}
			if len(o.LocalNodeImages) > 0 && !strings.Contains(f.Fix, "--node-image "+o.LocalNodeImages[0]) {
				t.Errorf("fix %q does not offer the local node image", f.Fix)
			}
			if (c.severity == Blocker) != (r.Err() != nil) {
				t.Errorf("Err() = %v with a %s finding", r.Err(), c.severity)
			}
		})
	}
}

func TestRegistryHosts(t *testing.T) {
	for ref, want := range map[string]string{
		nodeImage:                           "registry-1.docker.io",
		"quay.io/cilium/cilium:v1.16.19":    "quay.io",
		"calico/node:v3.29.7":               "registry-1.docker.io",
		"registry.k8s.io/pause:3.10":        "registry.k8s.io",
		"localhost:5000/hybridcni/x:latest": "localhost:5000",
	} {
		if got, err := RegistryHost(ref); err != nil || got != want {
			t.Errorf("%s: %q, %v; want %q", ref, got, err, want)
		}
	}
	if _, err := RegistryHost("Not A Ref"); err == nil {
		t.Error("bad reference accepted")
	}
}

func TestOfflineNeverProbes(t *testing.T) {
	o := opts(machine(t, good()), fakeEngine{}, 50*gib)
	o.Offline = true
	o.ProbeRegistry = func(context.Context, string) error { t.Fatal("probed a registry while offline"); return nil }
	if err := Run(context.Background(), o).Err(); err == nil || !strings.Contains(err.Error(), "registry not checked, offline") {
		t.Fatalf("offline with absent images: %v", err)
	}
}
