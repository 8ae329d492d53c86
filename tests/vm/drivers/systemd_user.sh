# `--systemd-cgroup` run by an unprivileged user in the systemd guest (tests/vm/systemd), booted
# with unified cgroups: the user has lingering enabled, so user@UID.service runs (with its user
# bus, from dbus-user-session) and systemd delegates its cgroup subtree to the user. Each runtime
# named by `berth.runtimes=runc,berth` on the kernel command line (Debian's runc 1.1.5 is the
# reference) runs the bundle `<runtime>` as that user with `--rootless true --systemd-cgroup`:
# the scope is in the user manager's user.slice while the container runs, the memory and pids
# limits are in its delegated cgroup and seen from inside, update, pause, resume and ps reach
# the scope, and delete removes it. Facts
# are `<runtime>_<fact>`; with both runtimes, `same_<fact>` compares berth's with runc's. Then
# berth alone (bundle `nobus`): without a user bus (XDG_RUNTIME_DIR elsewhere) one line names
# the bus and hints at lingering, and nothing is left.

RUNTIMES=$(sed -n 's/.*berth\.runtimes=\([a-z,]*\).*/\1/p' /proc/cmdline | tr ',' ' ')
NAME=berthu
ID=1500
RUN=/run/user/$ID
HOME_DIR=/home/$NAME
CG=/sys/fs/cgroup
OUT=/tmp/sdu
mkdir -p "$OUT"

# as_user COMMAND...: COMMAND as the user, with its runtime dir (so its user bus and state).
as_user() {
    setpriv --reuid $ID --regid $ID --clear-groups \
        env -i PATH="$PATH" HOME=$HOME_DIR USER=$NAME XDG_RUNTIME_DIR=$RUN "$@"
}

# uprop UNIT PROPERTY: a property of UNIT in the user's manager.
uprop() {
    as_user systemctl --user show -p "$2" --value "$1" 2>&1
}

# record NAME VALUE: remembers a value berth must share with runc.
record() {
    printf '%s\n' "$2" > "$OUT/$rt.$1"
}

# --- the user, with lingering: logind starts user@ID.service and its user bus ---
# No password ('*', not shadowed): PAM's account check of user@.service (pam_unix) would
# otherwise want an /etc/shadow entry.
echo "$NAME:*:$ID:$ID:berth test user:$HOME_DIR:/bin/sh" >> /etc/passwd
echo "$NAME:x:$ID:" >> /etc/group
mkdir -p $HOME_DIR
chown $ID:$ID $HOME_DIR
loginctl enable-linger $NAME > "$OUT/linger.out" 2>&1
_i=0
while { [ ! -S $RUN/bus ] || [ "$(systemctl show -p ActiveState --value user@$ID.service)" != active ]; } &&
    [ "$_i" -lt 300 ]; do
    _i=$((_i + 1))
    sleep 0.1
done
expect_true sdu_user_manager "user@$ID.service $(systemctl show -p ActiveState --value user@$ID.service), $RUN/bus" \
    test -S $RUN/bus
if [ ! -S $RUN/bus ]; then
    # Why, on the console (the host prints it when a fact fails).
    cat "$OUT/linger.out"
    systemctl status --no-pager -l user@$ID.service user-runtime-dir@$ID.service
    journalctl -b --no-pager -n 40 -u user@$ID.service -u user-runtime-dir@$ID.service -u systemd-logind.service
fi
expect sdu_delegated yes "$(systemctl show -p Delegate --value user@$ID.service)"
MANAGER_CG=$(systemctl show -p ControlGroup --value user@$ID.service)
expect sdu_manager_cgroup "/user.slice/user-$ID.slice/user@$ID.service" "$MANAGER_CG"

for rt in $RUNTIMES; do
    case $rt in
    runc) bin=runc ;;
    *) bin=$BERTH ;;
    esac
    b=$(bundle "$rt")
    chown -R $ID:$ID "$b"
    cid="sdu-$rt"
    unit="sdu-$cid.scope"
    expect_ok "${rt}_create" as_user "$bin" --rootless true --systemd-cgroup create --bundle "$b" "$cid"
    expect "${rt}_unit_active" active "$(uprop "$unit" ActiveState)"
    expect "${rt}_unit_slice" user.slice "$(uprop "$unit" Slice)"
    cgroup=$(uprop "$unit" ControlGroup)
    expect "${rt}_cgroup" "$MANAGER_CG/user.slice/$unit" "$cgroup"
    record cgroup "$cgroup"
    pid=$(as_user "$bin" state "$cid" | json_field pid)
    expect "${rt}_init_in_scope" "$cgroup" "$(sed -n 's/^0:://p' "/proc/$pid/cgroup" 2>&1)"
    expect "${rt}_memory_max" 67108864 "$(cat "$CG$cgroup/memory.max" 2>&1)"
    expect "${rt}_pids_max" 64 "$(cat "$CG$cgroup/pids.max" 2>&1)"
    record files "$(cat "$CG$cgroup/memory.max" "$CG$cgroup/pids.max" 2>&1)"
    expect "${rt}_owner" "$ID" "$(stat -c %u "$CG$cgroup/cgroup.procs" 2>&1)"
    expect_ok "${rt}_start" as_user "$bin" start "$cid"
    # The container prints what it sees of its cgroup once started (bundle's process).
    _i=0
    while ! grep -q '^limits ' "$b/rootfs/tmp/seen" 2>/dev/null && [ "$_i" -lt 100 ]; do
        _i=$((_i + 1))
        sleep 0.1
    done
    expect "${rt}_inside" "limits 67108864 64" "$(cat "$b/rootfs/tmp/seen" 2>&1)"
    record inside "$(cat "$b/rootfs/tmp/seen" 2>&1)"
    # update, pause and resume reach the delegated scope; ps finds the init in it.
    expect_ok "${rt}_update" as_user "$bin" update --pids-limit 32 "$cid"
    expect "${rt}_update_file" 32 "$(cat "$CG$cgroup/pids.max" 2>&1)"
    record update_file "$(cat "$CG$cgroup/pids.max" 2>&1)"
    expect_ok "${rt}_pause" as_user "$bin" pause "$cid"
    expect "${rt}_paused" "paused frozen 1" \
        "$(as_user "$bin" state "$cid" | json_field status) $(grep frozen "$CG$cgroup/cgroup.events")"
    expect_ok "${rt}_resume" as_user "$bin" resume "$cid"
    expect "${rt}_resumed" "running frozen 0" \
        "$(as_user "$bin" state "$cid" | json_field status) $(grep frozen "$CG$cgroup/cgroup.events")"
    # (runc warns on stderr that ps may fail without full access to cgroups.)
    expect "${rt}_ps" "[$pid]" "$(as_user "$bin" ps --format json "$cid" 2>/dev/null | tr -d ' \n')"
    expect_ok "${rt}_kill" as_user "$bin" kill "$cid" KILL
    _i=0
    while [ "$(as_user "$bin" state "$cid" 2>/dev/null | json_field status)" != stopped ] &&
        [ "$_i" -lt 100 ]; do
        _i=$((_i + 1))
        sleep 0.1
    done
    expect_ok "${rt}_delete" as_user "$bin" delete "$cid"
    _i=0
    while [ "$(uprop "$unit" LoadState)" != not-found ] && [ "$_i" -lt 50 ]; do
        _i=$((_i + 1))
        sleep 0.1
    done
    expect "${rt}_unit_gone" "not-found inactive" "$(uprop "$unit" LoadState) $(uprop "$unit" ActiveState)"
    expect "${rt}_cgroup_gone" "" "$(find $CG -type d -name "$unit" 2>/dev/null | tr '\n' ' ')"
    record unit_gone "$(uprop "$unit" LoadState)"
done

# --- with both runtimes: berth's unit and files equal runc's, but for the runtime's name ---
if [ -f "$OUT/runc.cgroup" ] && [ -f "$OUT/berth.cgroup" ]; then
    for f in cgroup files inside update_file unit_gone; do
        expect "same_$f" "$(sed 's/sdu-runc/sdu-RT/g' "$OUT/runc.$f")" "$(sed 's/sdu-berth/sdu-RT/g' "$OUT/berth.$f")"
    done
fi

# --- berth without a user bus: one line naming the bus, with the hint; nothing left ---
case " $RUNTIMES " in
*" berth "*)
    b=$(bundle nobus)
    chown -R $ID:$ID "$b"
    mkdir -p /tmp/nobus
    chown $ID:$ID /tmp/nobus
    setpriv --reuid $ID --regid $ID --clear-groups env -i PATH="$PATH" XDG_RUNTIME_DIR=/tmp/nobus \
        "$BERTH" --rootless true --systemd-cgroup run --bundle "$b" nobus > "$OUT/nobus.out" 2>&1
    _rc=$?
    _lines=$(wc -l < "$OUT/nobus.out")
    if [ "$_rc" -ne 0 ] && [ "$_lines" -eq 1 ] && grep -q '/tmp/nobus/bus' "$OUT/nobus.out" &&
        grep -q 'enable-linger' "$OUT/nobus.out"; then
        result sdu_nobus_error ok "$(cat "$OUT/nobus.out")"
    else
        result sdu_nobus_error fail "exit $_rc, $_lines lines: $(cat "$OUT/nobus.out")"
    fi
    expect sdu_nobus_no_state "" "$(ls /tmp/nobus/berth 2>/dev/null | grep -v seccomp)"
    ;;
esac
