#!/bin/sh
# After install or upgrade (.deb: "configure"; .rpm: 1 or 2): the service's
# own unprivileged user, then systemd picks up the unit. The .deb enables
# and starts it, as Debian's packages do; the .rpm leaves that to the
# administrator, as Fedora's do.
set -e
user=tcp-verdict-exporter
case "$1" in
configure | 1 | 2)
	if ! getent passwd "$user" >/dev/null; then
		useradd --system --user-group --home-dir /nonexistent --no-create-home \
			--shell /usr/sbin/nologin --comment "TCP verdict exporter" "$user"
	fi
	if [ -d /run/systemd/system ]; then
		systemctl --system daemon-reload >/dev/null || true
		if [ "$1" = configure ]; then
			systemctl enable tcp-verdict-exporter.service >/dev/null || true
			if [ -n "$2" ]; then
				systemctl restart tcp-verdict-exporter.service >/dev/null || true
			else
				systemctl start tcp-verdict-exporter.service >/dev/null || true
			fi
		fi
	fi
	;;
esac
exit 0
