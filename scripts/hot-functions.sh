#!/bin/bash
# Regenerates src/hot-functions.txt, the functions berth executes on the paths containerd,
# CRI-O and podman call (run, create, state, start, exec, ps, list, kill, delete), in the order
# the linker is to place them (build.rs). Run as root: `make hot-functions`.
#
# With --check [MIN] (`make hot-functions-check`, part of `make test`) it writes nothing: it
# reports how well the list still fits the build, and fails when it has gone stale:
#   listed:   the share of the list's names that are still functions of the binary;
#   coverage: the share of the functions these commands execute that the list names.
# Coverage is what the layout's win depends on: a function missing from the list sits
# somewhere in the remaining 3 MiB of .text and maps its own block of code pages. It fails
# below MIN percent (default 90; see the Makefile for why); then run `make hot-functions`.
#
# How: builds the release binary (build.rs has the linker write a map of it to OUT_DIR), takes
# every function's entry from the map, and runs each command under scripts/first-calls.c, which reports the
# functions reached. Functions more commands reach come first; among equals, the order first
# reached. Everything runs in a private mount namespace and a temp dir, with the containers'
# cgroups under /berth-test; all of it is removed at the end.
set -euo pipefail

cd "$(dirname "$0")/.."
out=src/hot-functions.txt
triple=$(rustc -vV | sed -n 's/^host: //p')
berth=$PWD/target/$triple/release/berth

# names_check MAP MIN: the deterministic part of the check (`--check-names`, what `make test`
# runs): the share of the list's names that are still functions of the binary of MAP. Symbol
# hashes change with a dependency, a feature or rustc, and moved code gets new paths: then
# names vanish and this share drops. (Whether new hot code is missing from the list needs the
# traced commands of `--check`.)
names_check() {
    local functions listed present
    functions=$(mktemp)
    awk '$5 ~ /^\.[a-z_.]*$/ { in_text = ($5 == ".text"); next }
         in_text && NF == 5 && $4 == 1 && $3 != "0" && $5 !~ /[(:]/ { print $5 }' "$1" |
        sort -u > "$functions"
    listed=$(grep -v '^#' "$out" | sort -u | wc -l)
    present=$(grep -v '^#' "$out" | sort -u | comm -12 - "$functions" | wc -l)
    rm -f "$functions"
    echo "hot-functions: listed $present of $listed names are functions of this build ($((100 * present / listed))%)"
    if [ $((100 * present)) -lt $(($2 * listed)) ]; then
        echo "hot-functions: the code layout is stale (under $2% of its names left): run \`make hot-functions\`" >&2
        return 1
    fi
}

[ "$(id -u)" = 0 ] || { echo "hot-functions: run as root" >&2; exit 1; }
if [ "${1:-}" != --in-namespace ]; then
    check=""
    names_only=""
    if [ "${1:-}" = --check ]; then check=${2:-90}; fi
    if [ "${1:-}" = --check-names ]; then check=${2:-90}; names_only=1; fi
    work=$(mktemp -d /tmp/berth-hot-functions.XXXXXX)
    trap 'rm -rf "$work"' EXIT
    # The map of this build's link of berth (build.rs has it written beside the build script's
    # output). `cargo test` links another berth (dev-dependency features, other symbol hashes)
    # and writes its map to the same place: the binary is relinked here so that the map is
    # this binary's (first-calls' breakpoints from another map crash it).
    touch src/main.rs
    out_dir=$(cargo build --release --message-format=json |
        sed -n 's|.*"reason":"build-script-executed".*"out_dir":"\([^"]*/build/berth-[0-9a-f]*/out\)".*|\1|p' |
        tail -n 1)
    map=${out_dir:+$out_dir/berth.map}
    [ -f "$map" ] || { echo "hot-functions: no berth.map under target/$triple/release/build" >&2; exit 1; }
    cp "$map" "$work/berth.map"
    if [ -n "$names_only" ]; then
        names_check "$work/berth.map" "$check"
        exit
    fi
    cc -O2 -Wall -Werror -o "$work/first-calls" scripts/first-calls.c
    # Tracing under first-calls (ptrace breakpoints in every function) fails now and then
    # (exit 3): up to three tries.
    for attempt in 1 2 3; do
        rc=0
        WORK=$work CHECK=$check unshare --mount --propagation private "$0" --in-namespace || rc=$?
        [ "$rc" -eq 3 ] || exit "$rc"
        echo "hot-functions: tracing failed (try $attempt of 3)" >&2
    done
    exit 1
fi

work=$WORK
state=$work/state
log=$work/berth.log
cgroup=berth-test/hot-functions-$$
# The runtime's own global flags as containerd passes them.
rt=("$berth" --root "$state" --log "$log" --log-format json)

cleanup() {
    for id in hot-run hot-box; do "${rt[@]}" delete --force "$id" >/dev/null 2>&1 || true; done
    rmdir /sys/fs/cgroup/*/"$cgroup"/ /sys/fs/cgroup/unified/"$cgroup"/ 2>/dev/null || true
}
trap cleanup EXIT

# Every function symbol in .text of the map: "offset name".
awk '$5 ~ /^\.[a-z_.]*$/ { in_text = ($5 == ".text"); next }
     in_text && NF == 5 && $4 == 1 && $3 != "0" && $5 !~ /[(:]/ { print $1, $5 }' \
    "$work/berth.map" | sort -u -k1,1 > "$work/functions"
cut -d' ' -f1 "$work/functions" > "$work/entries"

scripts/demo-bundle.sh "$work/bundle" >/dev/null
# The benchmark's container: berth's default config (runc's), without a terminal, on a
# writable rootfs, with a cgroup; running ARGS (a JSON list's items).
config() {
    "$berth" spec --bundle "$work/spec"
    sed -e "s|^\t\t\t\"sh\"$|$1|" -e 's|"terminal": true|"terminal": false|' \
        -e 's|"readonly": true|"readonly": false|' \
        -e "s|^\t\"linux\": {|&\"cgroupsPath\": \"/$cgroup\",|" "$work/spec/config.json"
    rm "$work/spec/config.json"
}
mkdir "$work/spec"
config '"/bin/true"' > "$work/bundle/config.json"
cat > "$work/process.json" <<'JSON'
{ "terminal": false, "user": { "uid": 0, "gid": 0 }, "args": ["/bin/true"],
  "env": ["PATH=/bin"], "cwd": "/" }
JSON

# trace NAME ARGS...: one berth command under first-calls, reached entries to $work/hits.NAME.
trace() {
    local name=$1
    shift
    "$work/first-calls" "$work/entries" "$work/hits.$name" -- "${rt[@]}" "$@" >/dev/null || {
        echo "hot-functions: berth $1 failed under first-calls (exit $?; log $log)" >&2
        exit 3
    }
}
status_of() { "${rt[@]}" state "$1" | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p'; }

trace run run --bundle "$work/bundle" hot-run
# create leaves its init waiting for start, still traced: first-calls goes on in the background
# until the init executes the container's program.
config '"/bin/sleep", "1000"' > "$work/bundle/config.json"
trace create create --bundle "$work/bundle" --pid-file "$work/pid" hot-box &
creating=$!
until [ "$(status_of hot-box 2>/dev/null)" = created ]; do
    kill -0 "$creating" 2>/dev/null || { echo "hot-functions: create failed ($log)" >&2; exit 3; }
    sleep 0.05
done
trace state state hot-box
trace start start hot-box
wait "$creating"
trace exec exec --process "$work/process.json" --pid-file "$work/exec.pid" hot-box
trace ps ps --format json hot-box
trace list list --format json
trace kill kill hot-box 9
until [ "$(status_of hot-box)" = stopped ]; do sleep 0.05; done
trace delete delete hot-box

commands=(run create state start exec ps list kill delete)
{
    cat <<HEADER
# berth's hot functions in link order: build.rs hands this file to lld (--symbol-ordering-file)
# so that what a start executes sits together at the start of .text, instead of spread over
# the whole 3 MiB of it. A start then maps a third of the code pages it used to (the kernel
# maps code in 64 KiB or larger blocks around each fault): less memory and fewer page faults.
# Made by \`make hot-functions\` (scripts/hot-functions.sh) from: ${commands[*]}.
# Symbol names carry crate hashes: build.rs uses the file only with the toolchain below.
# rustc: $(rustc -V)
# target: $triple
HEADER
    for i in "${!commands[@]}"; do
        awk -v c="$i" '{ print $1, c, NR }' "$work/hits.${commands[$i]}"
    done | awk '
        NR == FNR { name[$1] = $2; next }
        { uses[$1]++; if (!($1 in first)) first[$1] = sprintf("%02d %08d", $2, $3) }
        END { for (f in uses) printf "%03d %s %s\n", 99 - uses[f], first[f], name[f] }
    ' "$work/functions" - | sort | cut -d' ' -f4
} > "$work/list"

if [ -z "${CHECK:-}" ]; then
    mv "$work/list" "$out"
    echo "hot-functions: $(grep -vc '^#' "$out") functions in $out"
    exit
fi
# Check: the list against this build (names in the map) and against what the commands ran.
grep -v '^#' "$out" | sort -u > "$work/listed"
cut -d' ' -f2 "$work/functions" | sort -u > "$work/names"
grep -v '^#' "$work/list" | sort -u > "$work/ran"
listed=$(wc -l < "$work/listed")
present=$(comm -12 "$work/listed" "$work/names" | wc -l)
ran=$(wc -l < "$work/ran")
covered=$(comm -12 "$work/ran" "$work/listed" | wc -l)
made_with=$(sed -n 's/^# rustc: //p' "$out")
used=yes
[ "$made_with" = "$(rustc -V)" ] && grep -qx "# target: $triple" "$out" || used="no ($out was made with $made_with)"
echo "hot-functions: listed $present of $listed names are functions of this build ($((100 * present / listed))%)"
echo "hot-functions: coverage $covered of $ran functions that ${commands[*]} executed are listed ($((100 * covered / ran))%)"
echo "hot-functions: list used by this build: $used"
if [ "$used" != yes ] || [ $((100 * covered)) -lt $((CHECK * ran)) ]; then
    echo "hot-functions: the code layout is stale (coverage under $CHECK%): run \`make hot-functions\`" >&2
    exit 1
fi
