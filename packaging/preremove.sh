#!/bin/sh
# Before removal (.deb: "remove"; .rpm: 0, not on upgrade): stop and
# disable the service, so that no enablement link outlives the unit.
set -e
case "$1" in
remove | 0)
	if [ -d /run/systemd/system ]; then
		systemctl disable --now tcp-verdict-exporter.service >/dev/null || true
	fi
	;;
esac
exit 0
