#!/bin/sh
# After removal: systemd forgets the unit. On purge dpkg removes the
# conffiles itself; the system user stays, as Debian policy keeps users
# (files it owned may remain).
set -e
case "$1" in
remove | purge | 0)
	if [ -d /run/systemd/system ]; then
		systemctl --system daemon-reload >/dev/null || true
	fi
	;;
esac
exit 0
