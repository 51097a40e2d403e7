#!/bin/sh
# Build-time only (bind-mounted by docker/Dockerfile, never copied into an image): apt-get install the named
# packages without recommends, through the apt mirror when one is given, then drop the package lists and archives.
# The mirror is used from a temporary copy of the sources: the image keeps its own sources untouched.
# --without-mesa: then purge Mesa's drivers and LLVM (about 160 MB), which ffmpeg's libraries pull in and
# nothing here loads; dpkg is left with those dependencies unmet, so it must be the stage's last install.
set -eu
export DEBIAN_FRONTEND=noninteractive
without_mesa=false
if [ "${1:-}" = --without-mesa ]; then
    without_mesa=true
    shift
fi
# the mirror comes as the build secret apt_mirror (docker/Dockerfile), so no image records it
if [ -r /run/secrets/apt_mirror ]; then
    APT_MIRROR=$(tr -d ' \n' </run/secrets/apt_mirror)
fi
options=""
if [ -n "${APT_MIRROR:-}" ]; then
    sources=$(mktemp -d)
    mkdir "$sources/parts"
    # Debian's and Ubuntu's archives (deb.debian.org/debian, archive.ubuntu.com/ubuntu ...) become the mirror;
    # the security archive stays as it is.
    if [ -f /etc/apt/sources.list ]; then
        sed -E "s#https?://[^ ]+/(debian|ubuntu)/?( |\$)#${APT_MIRROR} #" /etc/apt/sources.list >"$sources/list"
    else
        : >"$sources/list"
    fi
    for part in /etc/apt/sources.list.d/*; do
        [ -f "$part" ] || continue
        sed -E "s#^(URIs: *)https?://[^ ]+/(debian|ubuntu)/?\$#\\1${APT_MIRROR}#" "$part" >"$sources/parts/$(basename "$part")"
    done
    options="-o Dir::Etc::SourceList=$sources/list -o Dir::Etc::SourceParts=$sources/parts"
fi
# shellcheck disable=SC2086 # the options are several words on purpose
apt-get $options update -q
# shellcheck disable=SC2086
apt-get $options install -y -q --no-install-recommends "$@"
if $without_mesa; then
    mesa=$(dpkg-query -W -f '${Package}\n' | grep -E '^(libgl1-mesa-dri|mesa-.*-drivers|libllvm[0-9]+|libz3-[0-9]+)$' || true)
    # shellcheck disable=SC2086 # one word per package
    [ -z "$mesa" ] || dpkg --purge --force-depends $mesa
fi
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log "${sources:-/nonexistent}"
