# Sourced by .ci/run: a throwaway sshd on a free loopback port so the parity runner's remote-host path is tested for
# real (key auth, copy the spec over, run, bring the report back). Everything lives in a temp folder; root's
# own ~/.ssh is not touched. On failure it only warns: the remote test then fails under CI=true with its fix
# (tests/conftest.py `needs`), and every other test still runs and reports.
start_loopback_sshd() {
    if ! command -v /usr/sbin/sshd >/dev/null 2>&1; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server openssh-client) \
            >/dev/null 2>&1 || return 1
    fi
    local dir
    dir=$(mktemp -d /tmp/di-sshd.XXXXXX) || return 1
    ssh-keygen -q -t ed25519 -N "" -f "$dir/host_key" || return 1
    ssh-keygen -q -t ed25519 -N "" -f "$dir/client_key" || return 1
    cp "$dir/client_key.pub" "$dir/authorized_keys" && chmod 600 "$dir/authorized_keys"
    mkdir -p /run/sshd
    # A free port, not a fixed one: an sshd left over from an earlier run on this machine must not answer instead.
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') \
        || return 1
    /usr/sbin/sshd -p "$port" -h "$dir/host_key" -o ListenAddress=127.0.0.1 -o PasswordAuthentication=no \
        -o AuthorizedKeysFile="$dir/authorized_keys" -o PidFile="$dir/sshd.pid" -o StrictModes=no || return 1
    export DI_SSHD_PIDFILE="$dir/sshd.pid"
    export DI_PARITY_SSH_HOST="root@127.0.0.1:$port"
    export DI_PARITY_SSH_KEY="$dir/client_key"
    export DI_PARITY_SSH_PYTHON="$PWD/.venv/bin/python"
    export DI_PARITY_SSH_KNOWN_HOSTS="$dir/known_hosts"
    echo "loopback sshd for the remote parity test: $DI_PARITY_SSH_HOST"
}
start_loopback_sshd || echo "warning: no loopback sshd; the remote parity test will fail in CI (skip elsewhere)" >&2
