#!/bin/sh
# Runs the tdill examples and prints a short summary.
#
#   demo.sh [DIR]     DIR holds the built examples (default: this script's)
#
# Starts echo_server in the background, runs echo_client against it, runs
# fdpass and chan_pool, and exits 0 only if all four worked. The server is killed on every
# way out, and every step has a time limit, so the demo never hangs.
set -u

dir=${1:-$(dirname "$0")}
for p in echo_server echo_client fdpass chan_pool; do
    if [ ! -x "$dir/$p" ]; then
        echo "demo: $dir/$p is missing; run 'make' first" >&2
        exit 1
    fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tdill-demo.XXXXXX") || exit 1
sock=$tmp/echo.sock
server_pid=
step_pid=
cleanup() {
    for pid in $step_pid $server_pid; do
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# step LOG SECS CMD...: runs CMD with output to LOG and a time limit (if
# timeout(1) is there). It runs in the background and we wait for it: a
# shell defers its traps while a foreground command runs, but not during
# `wait`, so an interrupted demo still cleans up at once.
step() {
    log=$1
    secs=$2
    shift 2
    if command -v timeout >/dev/null 2>&1; then
        timeout "$secs" "$@" >"$log" 2>&1 &
    else
        "$@" >"$log" 2>&1 &
    fi
    step_pid=$!
    wait "$step_pid"
    rc=$?
    step_pid=
    return $rc
}

conns=4
msgs=200
echo "tdill demo"
echo "----------"

# 1. The server: it stops after $conns connections, or after 30 s at most.
"$dir/echo_server" -n "$conns" -T 30000 -t 5000 -s "$tmp/stop" "$sock" \
    >"$tmp/server.log" 2>&1 &
server_pid=$!
i=0
while [ ! -S "$sock" ] && [ $i -lt 100 ]; do
    if ! kill -0 "$server_pid" 2>/dev/null; then
        break
    fi
    sleep 0.1
    i=$((i + 1))
done
if [ ! -S "$sock" ]; then
    echo "echo_server : FAILED to start"
    cat "$tmp/server.log"
    exit 1
fi

# 2. The client, full duplex on each of its connections.
client_ok=no
if step "$tmp/client.log" 30 \
    "$dir/echo_client" -c "$conns" -m "$msgs" "$sock"; then
    client_ok=yes
fi

# 3. The server should now stop by itself; if not, ask it with the stop
#    file, and at last kill it.
server_ok=no
i=0
while kill -0 "$server_pid" 2>/dev/null && [ $i -lt 50 ]; do
    [ $i -eq 30 ] && touch "$tmp/stop"
    sleep 0.1
    i=$((i + 1))
done
if kill -0 "$server_pid" 2>/dev/null; then
    echo "echo_server did not stop; killing it" >>"$tmp/server.log"
    kill "$server_pid"
fi
# It worked if it exited 0 after serving all $conns connections.
if wait "$server_pid" && grep -q "stopped (connection limit)" "$tmp/server.log"
then
    server_ok=yes
fi
server_pid=

# 4. Descriptor passing between two processes.
fdpass_ok=no
if step "$tmp/fdpass.log" 30 "$dir/fdpass"; then
    fdpass_ok=yes
fi

# 5. A worker pool fed through a channel by several producer threads.
pool_ok=no
if step "$tmp/pool.log" 30 "$dir/chan_pool" -p 4 -w 3 -n 500; then
    pool_ok=yes
fi

show() {
    name=$1
    ok=$2
    log=$3
    if [ "$ok" = yes ]; then
        printf '%-12s: ok\n' "$name"
    else
        printf '%-12s: FAILED\n' "$name"
    fi
    sed 's/^/    /' "$log"
}
show echo_server "$server_ok" "$tmp/server.log"
show echo_client "$client_ok" "$tmp/client.log"
show fdpass "$fdpass_ok" "$tmp/fdpass.log"
show chan_pool "$pool_ok" "$tmp/pool.log"

if [ "$server_ok$client_ok$fdpass_ok$pool_ok" = yesyesyesyes ]; then
    echo "demo: all 4 examples worked"
    exit 0
fi
echo "demo: FAILED"
exit 1
