package testenv

import (
	"bufio"
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Masterminds/semver/v3"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/hybridcni/hybridcni/framework/cni"
)

// The cache key testenv looks for must be what hack/apitier-build.sh builds:
// the newest tools/k8s/<version> module, the etcd its kubeadm asks for
// (tools/k8s/<version>/etcd-version, built from tools/etcd/<version>), and
// tools/apitier/kwok.
func TestVersionsMatchToolsModules(t *testing.T) {
	tools := filepath.Join("..", "..", "tools")
	dirs, err := filepath.Glob(filepath.Join(tools, "k8s", "v*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no tools/k8s/<version> modules (%v)", err)
	}
	newest := ""
	for _, d := range dirs {
		if v := filepath.Base(d); newest == "" || semver.MustParse(v).GreaterThan(semver.MustParse(newest)) {
			newest = v
		}
	}
	if newest != KubeVersion {
		t.Errorf("the newest tools/k8s/<version> is %s, testenv expects %s: hack/apitier-build.sh builds the newest; change both together", newest, KubeVersion)
	}
	etcd, err := os.ReadFile(filepath.Join(tools, "k8s", KubeVersion, "etcd-version"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(etcd)); got != EtcdVersion {
		t.Errorf("tools/k8s/%s/etcd-version is %s, testenv expects %s", KubeVersion, got, EtcdVersion)
	}
	for _, c := range []struct{ dir, module, want string }{
		{filepath.Join("k8s", KubeVersion), "k8s.io/kubernetes", KubeVersion},
		{filepath.Join("etcd", EtcdVersion), "go.etcd.io/etcd/server/v3", EtcdVersion},
		{filepath.Join("apitier", "kwok"), "sigs.k8s.io/kwok", KwokVersion},
	} {
		path := filepath.Join(tools, c.dir, "go.mod")
		got, err := requiredVersion(path, c.module)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s requires %s %s, testenv expects %s: change both together", path, c.module, got, c.want)
		}
	}
}

func requiredVersion(gomod, module string) (string, error) {
	f, err := os.Open(gomod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "require" {
			fields = fields[1:]
		}
		if len(fields) >= 2 && fields[0] == module && !strings.Contains(sc.Text(), "=>") {
			return fields[1], nil
		}
	}
	return "", errors.New(gomod + ": no require line for " + module)
}

func TestFindBinaries(t *testing.T) {
	dir := t.TempDir()
	for _, b := range binaries {
		if err := os.WriteFile(filepath.Join(dir, b), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(EnvBinDir, dir)
	got, err := FindBinaries()
	if err != nil || got != dir {
		t.Fatalf("FindBinaries() = %q, %v; want %q", got, err, dir)
	}

	if err := os.Remove(filepath.Join(dir, KubeScheduler)); err != nil {
		t.Fatal(err)
	}
	_, err = FindBinaries()
	if !errors.Is(err, ErrBinariesMissing) {
		t.Fatalf("missing kube-scheduler: err = %v, want ErrBinariesMissing", err)
	}
	for _, want := range []string{filepath.Join(dir, KubeScheduler), "make apitier", EnvBinDir} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}

	if err := os.WriteFile(filepath.Join(dir, KubeScheduler), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := FindBinaries(); err == nil || !strings.Contains(err.Error(), "not an executable") {
		t.Errorf("non-executable kube-scheduler: err = %v, want 'not an executable'", err)
	}
}

func TestDefaultBinDirFollowsCacheVariable(t *testing.T) {
	t.Setenv(EnvCache, "/srv/cache")
	got, err := DefaultBinDir()
	if err != nil {
		t.Fatal(err)
	}
	want := "/srv/cache/apitier/" + KubeVersion + "-" + EtcdVersion + "-" + KwokVersion + "/bin"
	if got != want {
		t.Errorf("DefaultBinDir() = %q, want %q", got, want)
	}
}

func TestOptionsRejectBadInput(t *testing.T) {
	for _, c := range []struct {
		name string
		opt  Option
		want string
	}{
		{"negative hybrid", WithHybridNodes(-1), "WithHybridNodes(-1)"},
		{"too many cloud", WithCloudNodes(maxNodesPerRole + 1), "WithCloudNodes(201)"},
		{"bad selector", WithCNIAgentSelector("k8s-app in ("), "WithCNIAgentSelector"},
		{"empty selector", WithCNIAgentSelector(""), "WithCNIAgentSelector"},
		{"service cidr not a network", WithServiceCIDR("10.96.0.1/16"), "WithServiceCIDR"},
		{"service cidr ipv6", WithServiceCIDR("fd00::/108"), "WithServiceCIDR"},
		{"timeout", WithStartTimeout(0), "WithStartTimeout"},
		{"component", WithExtraArgs("kubelet", "-v=4"), `WithExtraArgs("kubelet")`},
		{"node name", WithNodes(NodeSpec{Name: "Hybrid_1", InternalIP: "10.80.0.1", PodCIDR: "10.85.1.0/24"}), "Name"},
		{"node ip", WithNodes(NodeSpec{Name: "h1", InternalIP: "10.80.0", PodCIDR: "10.85.1.0/24"}), "InternalIP"},
		{"pod cidr", WithNodes(NodeSpec{Name: "h1", InternalIP: "10.80.0.1", PodCIDR: "10.85.1.1/24"}), "PodCIDR"},
		{"label", WithNodes(NodeSpec{Name: "h1", InternalIP: "10.80.0.1", PodCIDR: "10.85.1.0/24", Labels: map[string]string{"rack": "a b"}}), "label rack"},
		{"duplicate", WithNodes(
			NodeSpec{Name: "h1", InternalIP: "10.80.0.1", PodCIDR: "10.85.1.0/24"},
			NodeSpec{Name: "h1", InternalIP: "10.80.0.2", PodCIDR: "10.85.2.0/24"}), "used twice"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := defaultConfig()
			c.opt(&cfg)
			err := cfg.validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("validate() = %v, want an error naming %q", err, c.want)
			}
		})
	}
	cfg := defaultConfig()
	if err := cfg.validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
}

func TestDefaultNodeLayout(t *testing.T) {
	nodes := defaultNodes(3, 2)
	if len(nodes) != 5 {
		t.Fatalf("got %d nodes, want 5", len(nodes))
	}
	seenIP, seenCIDR := map[string]bool{}, map[string]bool{}
	for _, n := range nodes {
		if err := n.validate(); err != nil {
			t.Error(err)
		}
		if seenIP[n.InternalIP] || seenCIDR[n.PodCIDR] {
			t.Errorf("node %s reuses an address or pod CIDR", n.Name)
		}
		seenIP[n.InternalIP], seenCIDR[n.PodCIDR] = true, true
	}
	hybrid := Node{NodeSpec: nodes[0], Gated: true}.object()
	if hybrid.Labels[cni.HybridLabel] != cni.HybridValue || hybrid.Annotations[NetworkGateAnnotation] == "" ||
		hybrid.Annotations[kwokAnnotation] != kwokValue {
		t.Errorf("hybrid node labels %v annotations %v", hybrid.Labels, hybrid.Annotations)
	}
	if c := NodeReadyCondition(hybrid); c == nil || c.Status != corev1.ConditionFalse || c.Reason != NotReadyReason {
		t.Errorf("gated hybrid node registers with Ready condition %+v, want False/%s", c, NotReadyReason)
	}
	cloud := Node{NodeSpec: nodes[4]}.object()
	if _, ok := cloud.Labels[cni.HybridLabel]; ok || cloud.Annotations[NetworkGateAnnotation] != "" {
		t.Errorf("cloud node labels %v annotations %v", cloud.Labels, cloud.Annotations)
	}
	if cloud.Status.Addresses[0].Type != corev1.NodeInternalIP || cloud.Status.Addresses[0].Address != nodes[4].InternalIP {
		t.Errorf("cloud node addresses %v", cloud.Status.Addresses)
	}
}

func TestPKI(t *testing.T) {
	dir := t.TempDir()
	p, err := newPKI(dir, net.ParseIP("10.96.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(p.caPEM) {
		t.Fatal("CA PEM does not parse")
	}
	certPEM, err := os.ReadFile(p.certFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"127.0.0.1", "10.96.0.1", "localhost", "kubernetes.default.svc"} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: name, CurrentTime: time.Now()}); err != nil {
			t.Errorf("serving cert for %s: %v", name, err)
		}
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "example.com"}); err == nil {
		t.Error("serving cert verifies for example.com; want a name mismatch")
	}
	keyPEM, _ := os.ReadFile(p.saKeyFile)
	kb, _ := pem.Decode(keyPEM)
	if _, err := x509.ParseECPrivateKey(kb.Bytes); err != nil {
		t.Errorf("service-account key: %v", err)
	}
	pubPEM, _ := os.ReadFile(p.saPubFile)
	pb, _ := pem.Decode(pubPEM)
	if _, err := x509.ParsePKIXPublicKey(pb.Bytes); err != nil {
		t.Errorf("service-account public key: %v", err)
	}
	tokens, _ := os.ReadFile(p.tokenFile)
	lines := strings.Split(strings.TrimSpace(string(tokens)), "\n")
	if len(lines) != len(tokenUsers) || !strings.HasPrefix(lines[0], p.adminToken+",hybridcni-admin,") {
		t.Errorf("token file:\n%s", tokens)
	}
	for _, l := range lines {
		if !strings.HasSuffix(l, `,"system:masters"`) {
			t.Errorf("token line %q: not in system:masters", l)
		}
	}
}

// The gated node stage and the network gate must tell the same story.
func TestKwokStages(t *testing.T) {
	var names []string
	var gated string
	for _, doc := range bytes.Split(kwokStages, []byte("\n---\n")) {
		var s struct {
			Kind     string
			Metadata struct{ Name string }
		}
		if err := yaml.Unmarshal(doc, &s); err != nil {
			t.Fatalf("stage YAML: %v", err)
		}
		if s.Kind == "" {
			continue // the header comment
		}
		if s.Kind != "Stage" {
			t.Errorf("kind %q in kwok-stages.yaml", s.Kind)
		}
		names = append(names, s.Metadata.Name)
		if s.Metadata.Name == "node-initialize-network-gated" {
			gated = string(doc)
		}
	}
	want := "node-initialize node-initialize-network-gated node-heartbeat-with-lease pod-ready pod-ready-again pod-complete pod-delete"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("stages %q, want %q", got, want)
	}
	for _, s := range []string{NotReadyMessage, NotReadyReason, NetworkGateAnnotation} {
		if !strings.Contains(gated, s) {
			t.Errorf("gated node stage does not contain %q", s)
		}
	}
	if got := strings.Count(string(kwokStages), NetworkGateAnnotation); got != 3 {
		t.Errorf("network gate annotation appears %d times in kwok-stages.yaml, want 3 (two exclusions, one stage)", got)
	}
}

func TestLogTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	var b strings.Builder
	for i := range 30 {
		b.WriteString("line ")
		b.WriteString(string(rune('a' + i%26)))
		b.WriteByte('\n')
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	got := logTail("x", path, 3)
	if !strings.Contains(got, "last 3 lines") || !strings.HasSuffix(got, "| line d") || strings.Contains(got, "line a") {
		t.Errorf("logTail:\n%s", got)
	}
	if got := logTail("y", filepath.Join(t.TempDir(), "none"), 3); !strings.Contains(got, "no y log") {
		t.Errorf("missing log: %q", got)
	}
}
