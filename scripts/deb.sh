#!/usr/bin/env bash
# `make deb`: a Debian package of the files `make install PREFIX=/usr` puts in place (the
# binary, the man pages, the bash/zsh/fish completions), built with dpkg-deb alone.
#
#   scripts/deb.sh BERTH BERTH_DOCS OUT_DIR
#
# Writes OUT_DIR/berth_<version>-<revision>_<arch>.deb and prints its path. The control file:
# - Version: what the binary reports (`berth --version`, Cargo.toml's), DEB_REVISION after it.
# - Architecture: `dpkg --print-architecture` of the build host (the binary is built for it).
# - Depends: libc6 (>= the build host's glibc). The binary is a static PIE, but a static
#   glibc still dlopens libc6's NSS modules (libnss_files.so.2) when it looks a user up by
#   uid (the rootless path, src/subid.rs), and those must be of the glibc it was built with.
# - Suggests: uidmap (newuidmap/newgidmap, for rootless containers mapping more than the
#   user's own ids). criu is not suggested: berth has no checkpoint/restore.
set -euo pipefail

[ $# -eq 3 ] || { echo "usage: $0 BERTH BERTH_DOCS OUT_DIR" >&2; exit 2; }
berth=$1 berth_docs=$2 out=$3
here=$(cd "$(dirname "$0")/.." && pwd)
revision=${DEB_REVISION:-1}
maintainer=${DEB_MAINTAINER:-berth developers <berth@localhost>}

version=$("$berth" --version | sed -n '1s/^berth version //p')
[ -n "$version" ] || { echo "deb: $berth --version printed no version" >&2; exit 1; }
arch=$(dpkg --print-architecture)
# The upstream part of libc6's version (2.36-9+deb12u14 → 2.36).
glibc=$(dpkg-query -W -f='${Version}' libc6 | sed 's/-[^-]*$//')

stage=$out/stage
rm -rf "$stage" "$out/docs"
mkdir -p "$stage"
make -s -C "$here" -o build install PREFIX=/usr DESTDIR="$(realpath "$stage")" \
    BERTH="$(realpath "$berth")" BERTH_DOCS="$(realpath "$berth_docs")" \
    DOCS_DIR="$(realpath -m "$out/docs")" >/dev/null

# Debian policy: man pages gzipped (-n: no name or time stamp, reproducible), a copyright file.
gzip -9n "$stage"/usr/share/man/man8/*.8
doc=$stage/usr/share/doc/berth
install -d "$doc"
cat >"$doc/copyright" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: berth

Files: *
License: Apache-2.0
 On Debian systems the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
EOF
chmod 0644 "$doc/copyright"

install -d "$stage/DEBIAN"
(cd "$stage" && find usr -type f -print0 | sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<EOF
Package: berth
Version: $version-$revision
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size
Depends: libc6 (>= $glibc)
Suggests: uidmap
Section: admin
Priority: optional
Description: fast, runc-compatible OCI container runtime
 berth runs OCI bundles with runc's commands, flags, state JSON and exit codes,
 so containerd, CRI-O, podman, Docker and buildah can call it where they call
 runc. It clones straight into the container's init and never re-executes
 itself. The package holds the static binary, the man pages berth(8) and
 berth-<command>(8), and bash, zsh and fish completions.
EOF
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums"

deb=$out/berth_${version}-${revision}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
