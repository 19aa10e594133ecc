#!/usr/bin/env bash
# Installs what the tests need from Debian/Ubuntu (apt), each only when missing: the servers the
# integration tests start themselves (harness/servers.ts): nats-server, rabbitmq-server and
# postgresql; and the tools: chromium (the dashboard's browser test), docker-compose (validates the
# compose files) and kubernetes-client (kubectl's built-in kustomize builds the k8s overlays).
# The tests run every server privately (own ports, own temp data dir), so any system-wide
# instance that the packages' post-install scripts start is stopped again: it would only
# hold the default ports and memory.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
else
	SUDO=
fi

missing=()
command -v nats-server >/dev/null 2>&1 || missing+=(nats-server)
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing+=(rabbitmq-server)
# shellcheck disable=SC2012 # just an existence test
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)

if [ "${#missing[@]}" -eq 0 ]; then
	echo "install-servers: servers and test tools are already installed"
	exit 0
fi

# Remember which system services were running before, so that only what apt starts is stopped.
was_running() { $SUDO service "$1" status >/dev/null 2>&1; }
declare -A before=()
for svc in rabbitmq-server postgresql nats-server; do
	if was_running "$svc"; then before[$svc]=1; fi
done
epmd_before=$(pgrep -x epmd || true)

echo "install-servers: installing ${missing[*]}"
$SUDO apt-get update
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"

for svc in rabbitmq-server postgresql nats-server; do
	if [ -z "${before[$svc]:-}" ] && was_running "$svc"; then
		echo "install-servers: stopping the system $svc that apt started"
		$SUDO service "$svc" stop || true
		if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
			$SUDO systemctl disable "$svc" >/dev/null 2>&1 || true
		else
			$SUDO update-rc.d "$svc" disable >/dev/null 2>&1 || true
		fi
	fi
done
# RabbitMQ's Erlang starts a port mapper daemon (epmd) that outlives the broker; stop only one
# that was not running before the install.
for pid in $(pgrep -x epmd || true); do
	case " $epmd_before " in
		*" $pid "*) ;;
		*) echo "install-servers: stopping epmd ($pid) started by the rabbitmq-server install"; $SUDO kill "$pid" || true ;;
	esac
done

echo "install-servers: done"
