#!/bin/sh
# install-test-deps.sh: install the Debian packages the real-server tests use
# (OpenLDAP slapd + ldap-utils, redis-server, xmlsec1, chromium for the
# pages in a real browser, the AWS clients awscli and python3-boto3 that
# the terminal commands' tests drive, and prometheus for promtool, which
# checks deploy/prometheus/alerts.yaml). Called by `make test`.
#
# It is idempotent and quiet: when every tool is present it does nothing and
# prints nothing. It installs only when something is missing AND it runs as
# root; otherwise it says what is missing and exits 0, so the tests decide
# (they skip loudly, or fail when CI=true).
set -eu

missing_ldap=""
for tool in slapd slapadd slappasswd ldapadd; do
	if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then
		missing_ldap="$missing_ldap $tool"
	fi
done
missing_redis=""
if ! command -v redis-server >/dev/null 2>&1 && [ ! -x /usr/bin/redis-server ]; then
	missing_redis="redis-server"
fi

missing_xmlsec=""
if ! command -v xmlsec1 >/dev/null 2>&1; then
	missing_xmlsec="xmlsec1"
fi

missing_chromium=""
if [ ! -x /usr/bin/chromium ]; then
	missing_chromium="chromium"
fi

missing_awsclients=""
if [ ! -x /usr/bin/aws ] || ! /usr/bin/python3 -c 'import boto3' >/dev/null 2>&1; then
	missing_awsclients="awscli python3-boto3"
fi

missing_promtool=""
if ! command -v promtool >/dev/null 2>&1; then
	missing_promtool="prometheus"
fi

if [ -z "$missing_ldap" ] && [ -z "$missing_redis" ] && [ -z "$missing_xmlsec" ] && [ -z "$missing_chromium" ] && [ -z "$missing_awsclients" ] && [ -z "$missing_promtool" ]; then
	exit 0
fi

if [ "$(id -u)" != "0" ]; then
	echo "install-test-deps: missing:${missing_ldap} ${missing_redis} ${missing_xmlsec} ${missing_chromium} ${missing_awsclients} ${missing_promtool}; not root, not installing (tests needing them will skip, or fail with CI=true)" >&2
	exit 0
fi

apt-get update >/dev/null
if [ -n "$missing_ldap" ]; then
	echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slapd ldap-utils >/dev/null
fi
if [ -n "$missing_redis" ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server >/dev/null
fi
if [ -n "$missing_xmlsec" ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends xmlsec1 >/dev/null
fi
if [ -n "$missing_chromium" ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null
fi
if [ -n "$missing_awsclients" ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends awscli python3-boto3 >/dev/null
fi
if [ -n "$missing_promtool" ]; then
	# promtool only: the package's server is never started by the tests.
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus >/dev/null
fi
