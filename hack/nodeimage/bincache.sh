# The one binary cache of the offline builds (sourced after lib.sh, which
# has gobuild): hack/apitier-build.sh and hack/node-image.sh build
# Kubernetes and etcd from the same pinned modules (tools/k8s/<version>,
# tools/etcd/<version>) into the same folders,
#   ${HYBRIDCNI_CACHE:-$HOME/.cache/hybridcni}/node-image/bin/<name>-<version>/
# so a cold machine compiles and links each binary once, whichever build
# comes first. Needs log, die, cache_root and p.

# k8s_ldflags VERSION prints the ldflags of every Kubernetes binary: the
# version Kubernetes reads from ldflags only (without them it says
# v0.0.0-master and Helm's kubeVersion checks fail).
k8s_ldflags() {
	local v=$1 minor major pkg out="-s -w"
	minor=${v#v*.}
	minor=${minor%%.*}
	major=${v#v}
	major=${major%%.*}
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		out+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
	done
	printf '%s' "$out"
}

# k8s_module VERSION prints the tools module pinning Kubernetes VERSION.
k8s_module() {
	local dir="$repo/tools/k8s/$1"
	[[ -f "$dir/go.mod" ]] || die "no tools/k8s/$1: add a module pinning k8s.io/kubernetes $1 (copy tools/k8s/<other>, then go mod tidy there)"
	printf '%s' "$dir"
}

# k8s_etcd_version K8S_VERSION prints the etcd its kubeadm asks for
# (tools/k8s/<version>/etcd-version).
k8s_etcd_version() {
	local v
	v=$(cat "$(k8s_module "$1")/etcd-version")
	[[ -f "$repo/tools/etcd/$v/go.mod" ]] || die "no tools/etcd/$v (tools/k8s/$1/etcd-version): add it"
	printf '%s' "$v"
}

# bincache_build NAME MODULEDIR LDFLAGS PACKAGES... is gobuild under a lock
# per NAME, so two builds asking for the same binaries wait for each other
# and the second finds them built.
bincache_build() {
	local name=$1 lockdir="$cache_root/node-image/bin"
	mkdir -p "$lockdir"
	(
		exec 8>"$lockdir/.$name.lock"
		if ! flock -n 8; then
			log "another build is making $name; waiting"
			flock 8
		fi
		gobuild "$@"
	)
}

# bincache_seed NAME FROM BINARIES... fills NAME from a complete folder FROM
# that already holds BINARIES (hard links, else copies), so binaries built
# before the folders were shared are not built again.
bincache_seed() {
	local name=$1 from=$2 b
	shift 2
	local out="$cache_root/node-image/bin/$name"
	[[ -f "$out/.complete" || ! -f "$from/.complete" ]] && return 0
	for b in "$@"; do [[ -x "$from/$b" ]] || return 0; done
	rm -rf "$out.tmp" && mkdir -p "$out.tmp"
	for b in "$@"; do ln "$from/$b" "$out.tmp/$b" 2>/dev/null || cp "$from/$b" "$out.tmp/$b"; done
	printf 'seeded from %s\n' "$from" >"$out.tmp/.complete"
	rm -rf "$out" && mv "$out.tmp" "$out"
	log "$name: reused the binaries of $from"
}

# k8s_set SET prints the binaries of SET: control-plane (the API tier's and
# the node image's component images) or node (kubelet, kubeadm, kubectl, kube-proxy).
k8s_set() {
	case "$1" in
	control-plane) printf '%s\n' kube-apiserver kube-controller-manager kube-scheduler ;;
	node) printf '%s\n' kubelet kubeadm kubectl kube-proxy ;;
	*) die "unknown set of Kubernetes binaries: $1" ;;
	esac
}

# k8s_dir VERSION SET prints the folder of SET's binaries of Kubernetes VERSION.
k8s_dir() { printf '%s' "$cache_root/node-image/bin/k8s-$2-$1"; }

# etcd_path VERSION prints the etcd binary of VERSION (go build names the
# binary of go.etcd.io/etcd/server/v3 "server").
etcd_path() { printf '%s' "$cache_root/node-image/bin/etcd-$1/server"; }

# build_k8s VERSION SET... builds (or reuses) SET's binaries of Kubernetes
# VERSION. Not inside $(...): errexit does not reach there.
build_k8s() {
	local v=$1 set mod ldflags bins old
	shift
	mod=$(k8s_module "$v")
	ldflags=$(k8s_ldflags "$v")
	for set in "$@"; do
		mapfile -t bins < <(k8s_set "$set")
		# Folders of the builds before this cache was shared: the node
		# image's (every binary) and the API tier's (control plane, any etcd).
		bincache_seed "k8s-$set-$v" "$cache_root/node-image/bin/k8s-$v" "${bins[@]}"
		for old in "$cache_root"/apitier/"$v"-*/bin; do
			bincache_seed "k8s-$set-$v" "$old" "${bins[@]}"
		done
		bincache_build "k8s-$set-$v" "$mod" "$ldflags" "${bins[@]/#/k8s.io/kubernetes/cmd/}"
	done
}

# build_etcd VERSION builds (or reuses) etcd VERSION.
build_etcd() { bincache_build "etcd-$1" "$repo/tools/etcd/$1" "-s -w" go.etcd.io/etcd/server/v3; }
