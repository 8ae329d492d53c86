#!/bin/sh
# /vm/systemd-run.sh: what berth-vm.service (tests/vm/systemd/berth-vm.service) runs once the
# systemd guest is up. Reports the host's facts (systemd is PID 1, the bus answers, which cgroup
# layout systemd mounted), runs /vm/driver.sh with /vm/lib.sh, and closes with RESULTS-END;
# the unit then powers the guest off.
export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
echo "BERTH-VM-SYSTEMD uptime=$(cut -d ' ' -f 1 /proc/uptime) state=$(systemctl is-system-running 2>&1)"
sh -c '. /vm/lib.sh; systemd_host_checks; cd /vm; . /vm/driver.sh' < /dev/null 2>&1
echo "RESULTS-END uptime=$(cut -d ' ' -f 1 /proc/uptime)"
sync
