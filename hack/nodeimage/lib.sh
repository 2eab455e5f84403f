# Shared by hack/node-image.sh and hack/kube-router-image.sh (sourced).
# Needs: cache_root (cache root), work (scratch folder), suite, mirror, p, log, die.

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
