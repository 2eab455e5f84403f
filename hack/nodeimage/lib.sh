# Shared by hack/node-image.sh, hack/kube-router-image.sh and
# hack/cilium-image.sh (sourced). Needs log and die; build_host sets
# cache_root, suite, mirror and p; rootfs and gobuild also need work.

# build_host [TOOLS...] checks root, the tools and a Docker engine, sets the
# cache root and build settings, and takes the build lock every offline
# image shares (one build at a time: they share root filesystems and CPUs).
build_host() {
	[[ "$(id -u)" == 0 ]] || die "run as root: debootstrap and the containerd preload need it"
	local c
	for c in debootstrap docker go "$@"; do
		command -v "$c" >/dev/null || die "$c not found: run hack/setup.sh (installs hack/debian-packages.txt)"
	done
	docker info >/dev/null 2>&1 || die "no Docker engine answers: start it (hack/docker-up.sh)"
	cache_root=${HYBRIDCNI_CACHE:-${HOME:?HOME or HYBRIDCNI_CACHE must be set}/.cache/hybridcni}
	suite=bookworm
	mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
	p=${NODE_IMAGE_BUILD_P:-2}
	mkdir -p "$cache_root/node-image"/{rootfs,bin,images}
	exec 9>"$cache_root/node-image/.lock"
	if ! flock -n 9; then
		log "another build holds $cache_root/node-image/.lock; waiting"
		flock 9
	fi
}

# load_image ARCHIVE TAG loads a docker-archive into the engine; the build it
# replaces, now untagged, goes unless a container still uses it.
load_image() {
	local old
	old=$(docker image inspect -f '{{.Id}}' "$2" 2>/dev/null || true)
	docker load -i "$1" >/dev/null
	if [[ -n "$old" && "$old" != "$(docker image inspect -f '{{.Id}}' "$2")" ]]; then
		docker rmi "$old" >/dev/null 2>&1 || log "previous image $old is still in use; remove it later (hybridcni gc)"
	fi
	log "$2 ($(docker image inspect -f '{{.Size}}' "$2" | numfmt --to=iec))"
}

# modversion FILE MODULE prints the version MODULE is required at in FILE.
modversion() {
	local v
	v=$(awk -v m="$2" '($1 == m || ($1 == "require" && $2 == m)) && $0 !~ /=>/ {print $NF; exit}' "$1")
	[[ -n "$v" ]] || die "no 'require $2' in $1; fix the tools module"
	printf '%s' "$v"
}

# Packages of the node, and of the base image of kube-proxy and kube-router.
node_packages=(systemd systemd-sysv dbus containerd runc iptables nftables ipset iproute2 ethtool socat
	conntrack kmod mount util-linux procps ca-certificates libseccomp2 containernetworking-plugins
	iputils-ping hostname bash coreutils findutils)
netbase_packages=(iptables ipset iproute2 conntrack kmod ca-certificates)

# rootfs NAME PACKAGES... debootstraps a Debian root filesystem once and
# prints the path of its cached tar.
rootfs() {
	local name=$1
	shift
	local key out
	key=$(printf '%s\n' "$suite" minbase "$@" | sha256sum | cut -c1-12)
	out="$cache_root/node-image/rootfs/$name-$suite-$key.tar"
	if [[ ! -s "$out" ]]; then
		local t0 dir
		t0=$(date +%s)
		mkdir -p "$(dirname "$out")"
		dir="$work/debootstrap-$name"
		log "debootstrap $suite ($name, $# packages)"
		nice -n 10 debootstrap --variant=minbase --include="$(IFS=,; echo "$*")" "$suite" "$dir" "$mirror" >"$work/debootstrap-$name.log" 2>&1 ||
			{ tail -20 "$work/debootstrap-$name.log" >&2; die "debootstrap $name failed (log above)"; }
		# No package caches or lists in the images.
		rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* "$dir"/var/log/*.log
		tar -C "$dir" --numeric-owner --xattrs --xattrs-include='*' -cf "$out.tmp" .
		mv "$out.tmp" "$out"
		rm -rf "$dir"
		log "rootfs $name done in $(($(date +%s) - t0))s ($(du -h "$out" | cut -f1))"
	fi
	printf '%s' "$out"
}

# rootfs_start NAME PACKAGES... runs rootfs in the background, so debootstrap
# (network and disk) goes on beside the Go builds (CPU); rootfs_wait NAME
# waits for it in the script's own shell (not in $(...)), after which rootfs
# prints the cached path at once; rootfs_stop (in the scripts' exit traps)
# ends what is still running.
declare -A rootfs_jobs=()
rootfs_start() {
	rootfs "$@" >/dev/null &
	rootfs_jobs[$1]=$!
}
rootfs_wait() {
	local pid=${rootfs_jobs[$1]:-}
	[[ -n "$pid" ]] || return 0
	unset "rootfs_jobs[$1]"
	wait "$pid" || die "the $1 root filesystem failed (its log is above)"
}
rootfs_stop() {
	local pid
	for pid in "${rootfs_jobs[@]}"; do kill_tree "$pid"; done
}
kill_tree() {
	local c
	for c in $(pgrep -P "$1"); do kill_tree "$c"; done
	kill "$1" 2>/dev/null || true
}

# gobuild DIR MODULEDIR LDFLAGS PACKAGES... builds into $cache_root/node-image/bin/DIR once.
gobuild() {
	local dir=$1 mod=$2 ldflags=$3
	shift 3
	local out="$cache_root/node-image/bin/$dir"
	[[ -f "$out/.complete" ]] && return 0
	local t0
	t0=$(date +%s)
	log "go build $dir (-p $p)"
	rm -rf "$out.tmp" && mkdir -p "$out.tmp"
	(cd "$mod" && GOWORK=off CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false -trimpath" \
		nice -n 10 go build -p "$p" -ldflags "$ldflags" -o "$out.tmp/" "$@")
	date -u +%Y-%m-%dT%H:%M:%SZ >"$out.tmp/.complete"
	rm -rf "$out" && mv "$out.tmp" "$out"
	log "built $dir in $(($(date +%s) - t0))s"
}
