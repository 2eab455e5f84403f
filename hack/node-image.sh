#!/usr/bin/env bash
# Builds the offline kind node image hybridcni/node:<kubernetes version> with
# no registry: a Debian root filesystem from debootstrap (systemd, containerd,
# runc behind cmd/runc-capfix, iptables, CNI plugins), kubelet/kubeadm/kubectl built from
# k8s.io/kubernetes through the Go module proxy (tools/k8s/<version>, the module
# the API test tier builds from too), and the control-plane,
# kube-proxy, etcd, CoreDNS and pause images built here and preloaded into the
# node's containerd store, plus the files kind reads from a node image
# (hack/nodeimage/files/). Prints the image tag on stdout.
#
# Every stage is cached by version outside the checkout:
#   ${HYBRIDCNI_CACHE:-$HOME/.cache/hybridcni}/node-image/
#     rootfs/<suite>-<packages hash>.tar      debootstrap results
#     bin/<name>-<version>/                    Go binaries, shared with the API tier
#                                              (hack/nodeimage/bincache.sh)
#     images/<inputs hash>/*.tar               component image archives
# and the finished image carries the hash of all its inputs as a label, so a
# second run with nothing changed only checks and exits.
#
# Usage: hack/node-image.sh            build (or reuse) and print the tag
#        hack/node-image.sh --tag      print the tag only
# The images kubeadm pulls follow the Kubernetes version: the pause, etcd and
# CoreDNS tags are read from that version's kubeadm (cmd/kubeadm/app/constants:
# PauseVersion, DefaultEtcdVersion, CoreDNSVersion in the module tools/k8s/<version>
# pins), and etcd and CoreDNS are built from tools/etcd/<version> and
# tools/coredns/<version>; a version whose kubeadm asks for one not pinned there
# stops with the folder to add. CoreDNS differs from upstream's image in one way:
# it carries only the plugins of hack/nodeimage/coredns/main.go (kubeadm's
# Corefile's and a few for debugging), not the cloud-provider and tracing ones.
# Built so far: v1.37.2 (pause 3.10.2, etcd 3.7.0,
# CoreDNS v1.14.6) and v1.33.13 (pause 3.10, etcd 3.5.24, CoreDNS v1.12.0).
#
# Environment:
#   KUBERNETES_VERSION  the Kubernetes to build (default: the newest tools/k8s/<version>;
#                       etcd is the one its kubeadm asks for, tools/k8s/<version>/etcd-version)
#   HYBRIDCNI_CACHE     cache root (default $HOME/.cache/hybridcni)
#   NODE_IMAGE_BUILD_P  parallel compile jobs (default 2; a kube link peaks ~2.4 GiB)
#   NODE_IMAGE_FORCE=1  rebuild the image even if its inputs are unchanged
#   DEBIAN_MIRROR       Debian mirror for debootstrap (default deb.debian.org)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools="$repo/tools"
files="$repo/hack/nodeimage/files"

log() { printf 'node-image: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# shellcheck source=nodeimage/lib.sh
source "$repo/hack/nodeimage/lib.sh"
# shellcheck source=nodeimage/bincache.sh
source "$repo/hack/nodeimage/bincache.sh"

k8s_version=${KUBERNETES_VERSION:-$(cd "$repo/tools/k8s" && ls -d v* | sort -V | tail -1)}
k8s_version=v${k8s_version#v}
k8s_mod=$(k8s_module "$k8s_version")

tag=${NODE_IMAGE_TAG:-hybridcni/node:$k8s_version}
LABEL_INPUTS=dev.hybridcni.node-image.inputs # framework/nodeimage.LabelInputs
if [[ "${1:-}" == --tag ]]; then
	printf '%s\n' "$tag"
	exit 0
fi

etcd_version=$(k8s_etcd_version "$k8s_version")
crictl_version=$(modversion "$tools/nodeimage/crictl/go.mod" sigs.k8s.io/cri-tools)
# Image tags kubeadm $k8s_version asks for, from its own constants.
kubeadm_constants=$(cd "$k8s_mod" && GOFLAGS=-mod=mod go mod download k8s.io/kubernetes &&
	go list -m -f '{{.Dir}}' k8s.io/kubernetes)/cmd/kubeadm/app/constants/constants.go
kubeadm_const() { # NAME prints the string constant NAME of kubeadm's constants
	local v
	v=$(sed -n "s/^[[:space:]]*$1 = \"\([^\"]*\)\"$/\1/p" "$kubeadm_constants" | head -1)
	[[ -n "$v" ]] || die "no constant $1 in $kubeadm_constants"
	printf '%s' "$v"
}
pause_tag=$(kubeadm_const PauseVersion)
etcd_tag=$(kubeadm_const DefaultEtcdVersion)
[[ "$etcd_tag" == "${etcd_version#v}-0" ]] ||
	die "kubeadm $k8s_version asks for etcd $etcd_tag, tools/k8s/$k8s_version/etcd-version says $etcd_version: make them agree"
coredns_version=$(kubeadm_const CoreDNSVersion)
coredns_mod="$tools/coredns/$coredns_version"
[[ -f "$coredns_mod/go.mod" ]] ||
	die "kubeadm $k8s_version asks for CoreDNS $coredns_version: add tools/coredns/$coredns_version (copy another, then go mod tidy there)"
[[ "$(modversion "$coredns_mod/go.mod" github.com/coredns/coredns)" == "$coredns_version" ]] ||
	die "tools/coredns/$coredns_version does not require github.com/coredns/coredns $coredns_version"
log "kubeadm $k8s_version: pause $pause_tag, etcd $etcd_tag, CoreDNS $coredns_version"
# CoreDNS with the plugins of hack/nodeimage/coredns (kubeadm's Corefile and a
# few for debugging), built in the version's module; the plugins kubeadm's
# Corefile names, read from its manifest, must all be there.
coredns_main="$repo/hack/nodeimage/coredns/main.go"
coredns_dir="coredns-$coredns_version-$(sha256sum "$coredns_main" | cut -c1-8)"
kubeadm_corefile="${kubeadm_constants%/constants/constants.go}/phases/addons/dns/manifests.go"
corefile_plugins=$(awk '/Corefile: \|/ { on = 1; next } on && /^`/ { exit } on && /^        [a-z]/ { print $1 }' "$kubeadm_corefile")
[[ -n "$corefile_plugins" ]] || die "no Corefile plugins read from $kubeadm_corefile (its CoreDNSConfigMap changed shape: mend the awk above)"

build_host containerd ctr
cache="$cache_root/node-image"

inputs_hash=$( {
	printf '%s\n' "$k8s_version" "$etcd_version" "$coredns_version" "$crictl_version" "$pause_tag" "$suite" "${node_packages[@]}" "${netbase_packages[@]}"
	cat "${BASH_SOURCE[0]}" "$tools"/nodeimage/*/go.sum "$coredns_mod/go.sum" "$k8s_mod/go.sum" "$repo/tools/etcd/$etcd_version/go.sum"
	find "$repo/hack/nodeimage" "$repo/cmd/runc-capfix" -type f ! -name '*.md' ! -name '*_test.go' -print0 | sort -z | xargs -0 cat
} | sha256sum | cut -c1-16)

if [[ "${NODE_IMAGE_FORCE:-0}" != 1 ]] &&
	[[ "$(docker image inspect -f "{{index .Config.Labels \"$LABEL_INPUTS\"}}" "$tag" 2>/dev/null)" == "$inputs_hash" ]]; then
	log "up to date: $tag (inputs $inputs_hash)"
	printf '%s\n' "$tag"
	exit 0
fi

start=$(date +%s)
rm -rf "$cache"/.build.* "$cache"/.kube-router.* 2>/dev/null || true # leftovers of interrupted builds (we hold the lock)
work=$(mktemp -d "$cache/.build.XXXXXX")
ctrd_pid=""
cleanup() {
	rootfs_stop
	[[ -n "$ctrd_pid" ]] && kill "$ctrd_pid" 2>/dev/null && wait "$ctrd_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cpbin=$(k8s_dir "$k8s_version" control-plane)
nodebin=$(k8s_dir "$k8s_version" node)

build_binaries() {
	# The shared binary cache: what the API tier built is not built again.
	build_k8s "$k8s_version" control-plane node
	build_etcd "$etcd_version"
	mkdir -p "$work/coredns/coredns"
	cp "$coredns_mod/go.mod" "$coredns_mod/go.sum" "$work/coredns/"
	cp "$coredns_main" "$work/coredns/coredns/"
	gobuild "$coredns_dir" "$work/coredns" "-s -w" -tags coredns ./coredns
	local have d
	have=$("$cache/bin/$coredns_dir/coredns" -plugins)
	for d in $corefile_plugins; do
		grep -qxE "[[:space:]]*(dns\.)?$d" <<<"$have" ||
			die "kubeadm $k8s_version's Corefile uses the CoreDNS plugin $d, which hack/nodeimage/coredns/main.go does not import: add it there"
	done
	gobuild "crictl-$crictl_version" "$tools/nodeimage/crictl" "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$crictl_version" sigs.k8s.io/cri-tools/cmd/crictl
	(cd "$repo" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/pause" ./hack/nodeimage/pause)
	(cd "$repo" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/runc-capfix" ./cmd/runc-capfix)
	(cd "$repo" && go build -o "$work/imagetool" ./hack/nodeimage/imagetool)
	local got
	got=$("$nodebin/kubelet" --version)
	[[ "$got" == "Kubernetes $k8s_version" ]] || die "kubelet reports '$got', want 'Kubernetes $k8s_version' (version ldflags)"
}

if [[ "${NODE_IMAGE_STAGE:-}" == binaries ]]; then
	build_binaries
	exit 0
fi
rootfs_start node "${node_packages[@]}"
rootfs_start netbase "${netbase_packages[@]}"
build_binaries
rootfs_wait node
rootfs_wait netbase
node_rootfs=$(rootfs node "${node_packages[@]}")
netbase_rootfs=$(rootfs netbase "${netbase_packages[@]}")

# --- component images (docker-archive tars, names as kubeadm expects) ---
imgs="$work/images"
mkdir -p "$imgs"
it="$work/imagetool"
static() { # static NAME:TAG BINARY COMMAND [ENTRYPOINT]
	local ref=$1 bin=$2 cmd=$3 ep=${4:-}
	"$it" archive --out "$imgs/$(basename "${ref%%:*}").tar" --tag "$ref" \
		--file "$bin:/usr/local/bin/$cmd" ${ep:+--entrypoint "$ep"} \
		--env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
}
for c in kube-apiserver kube-controller-manager kube-scheduler; do
	static "registry.k8s.io/$c:$k8s_version" "$cpbin/$c" "$c"
done
# go build names the etcd server binary "server" (go.etcd.io/etcd/server/v3).
static "registry.k8s.io/etcd:$etcd_tag" "$(etcd_path "$etcd_version")" etcd
static "registry.k8s.io/coredns/coredns:$coredns_version" "$cache/bin/$coredns_dir/coredns" coredns /usr/local/bin/coredns
static "registry.k8s.io/pause:$pause_tag" "$work/pause" pause /usr/local/bin/pause
"$it" archive --out "$imgs/kube-proxy.tar" --tag "registry.k8s.io/kube-proxy:$k8s_version" \
	--base "$netbase_rootfs" --file "$nodebin/kube-proxy:/usr/local/bin/kube-proxy" \
	--env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
log "component images: $(du -sh "$imgs" | cut -f1)"

# --- node root filesystem ---
root="$work/root"
mkdir -p "$root"
tar -C "$root" --numeric-owner --xattrs --xattrs-include='*' -xf "$node_rootfs"
cp -a "$files"/. "$root"/
for b in kubelet kubeadm kubectl; do install -m 0755 "$nodebin/$b" "$root/usr/bin/$b"; done
install -m 0755 "$cache/bin/crictl-$crictl_version/crictl" "$root/usr/bin/crictl"
# containerd's runc, through the wrapper that drops the capabilities the host
# withholds (etc/containerd/config.toml): pods asking for them still start.
install -D -m 0755 "$work/runc-capfix" "$root/usr/local/sbin/runc-capfix"
# CNI plugins where kubelet and CNIs look for them.
mkdir -p "$root/opt/cni/bin" "$root/etc/cni/net.d"
for f in "$root"/usr/lib/cni/*; do ln -sf "/usr/lib/cni/$(basename "$f")" "$root/opt/cni/bin/"; done
printf '%s\n' "$k8s_version" >"$root/kind/version"
sed -i "s#@PAUSE@#registry.k8s.io/pause:$pause_tag#" "$root/etc/containerd/config.toml"
# systemd inside a container: boot to multi-user, nothing that needs hardware.
chroot "$root" systemctl set-default multi-user.target >/dev/null
chroot "$root" systemctl enable containerd.service kubelet.service >/dev/null 2>&1
for u in getty.target systemd-udevd.service systemd-udev-trigger.service systemd-modules-load.service \
	sys-kernel-debug.mount sys-kernel-tracing.mount sys-kernel-config.mount proc-sys-fs-binfmt_misc.automount \
	systemd-remount-fs.service systemd-firstboot.service systemd-resolved.service apt-daily.timer apt-daily-upgrade.timer \
	e2scrub_all.timer fstrim.timer; do
	ln -sf /dev/null "$root/etc/systemd/system/$u"
done
: >"$root/etc/machine-id" # the entrypoint makes one per node

# --- preload the component images into the node's containerd store ---
# A containerd of the host writes the node's /var/lib/containerd directly;
# images stay packed (--no-unpack) and unpack in the node on first use.
cat >"$work/containerd.toml" <<EOF
version = 2
root = "$root/var/lib/containerd"
state = "$work/ctrd-state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$work/ctrd.sock"
[ttrpc]
  address = "$work/ctrd.sock.ttrpc"
EOF
containerd --config "$work/containerd.toml" >"$work/containerd.log" 2>&1 &
ctrd_pid=$!
for _ in $(seq 100); do ctr -a "$work/ctrd.sock" version >/dev/null 2>&1 && break; sleep 0.1; done
ctr -a "$work/ctrd.sock" version >/dev/null || die "temporary containerd did not start: $(tail -5 "$work/containerd.log")"
for a in "$imgs"/*.tar; do
	ctr -a "$work/ctrd.sock" -n k8s.io images import --all-platforms --no-unpack "$a" >/dev/null
done
for ref in $(ctr -a "$work/ctrd.sock" -n k8s.io images ls -q); do
	ctr -a "$work/ctrd.sock" -n k8s.io images label "$ref" io.cri-containerd.pinned=pinned >/dev/null
done
ctr -a "$work/ctrd.sock" -n k8s.io images ls -q | grep -v '^sha256:' | sed 's/^/node-image: preloaded /' >&2
kill "$ctrd_pid" && wait "$ctrd_pid" 2>/dev/null || true
ctrd_pid=""

# --- load as a Docker image ---
log "loading $tag"
tar -C "$root" --numeric-owner --xattrs --xattrs-include='*' -cf "$work/node-rootfs.tar" .
rm -rf "$root"
"$it" archive --out "$work/node.tar" --tag "$tag" --base "$work/node-rootfs.tar" \
	--entrypoint /usr/local/bin/entrypoint --entrypoint /sbin/init \
	--env container=docker --stop-signal 'SIGRTMIN+3' \
	--label "$LABEL_INPUTS=$inputs_hash" --label "dev.hybridcni.kubernetes-version=$k8s_version"
rm -f "$work/node-rootfs.tar"
load_image "$work/node.tar" "$tag"
rm -f "$work/node.tar"
log "done in $(($(date +%s) - start))s"
printf '%s\n' "$tag"
