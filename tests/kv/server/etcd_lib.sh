# A real etcd (Debian's etcd-server, /usr/bin/etcd) for the cluster scripts (e2e_cluster.sh,
# bench/kv_cluster.sh): on free loopback client and peer ports, a data dir under $work, stopped
# by stop_etcd (call it from the script's EXIT trap). Source after setting work and fail().
etcd_pid=""
# free_ports N: N distinct free TCP ports on 127.0.0.1 (bound and released at once).
free_ports() {
  python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}
# start_etcd -> etcd_pid, etcd_port (client), etcd_url base http://127.0.0.1:PORT
start_etcd() {
  local ports peer
  ports="$(free_ports 2)"
  etcd_port="${ports% *}"
  peer="${ports#* }"
  etcd="${ETCD:-/usr/bin/etcd}"
  [[ -x "$etcd" ]] || fail "no etcd at $etcd (Debian package etcd-server)"
  "$etcd" --name buddykv-test --data-dir "$work/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "buddykv-test=http://127.0.0.1:$peer" \
    >"$work/etcd.log" 2>&1 &
  etcd_pid=$!
  for _ in $(seq 1 100); do
    if curl -s -m 1 -X POST "http://127.0.0.1:$etcd_port/v3/kv/range" -d '{"key":"AA=="}' \
      | grep -q header; then
      return 0
    fi
    kill -0 "$etcd_pid" 2>/dev/null || fail "etcd exited: $(tail -3 "$work/etcd.log")"
    sleep 0.1
  done
  fail "etcd did not come up: $(tail -3 "$work/etcd.log")"
}
stop_etcd() {
  if [[ -n "$etcd_pid" ]]; then
    kill -TERM "$etcd_pid" 2>/dev/null || true
    wait "$etcd_pid" 2>/dev/null || true
    etcd_pid=""
  fi
}
# registered_ids PREFIX: the ids registered under /PREFIX/servers/, sorted, space-separated.
registered_ids() {
  local from to
  from="$(printf '/%s/servers/' "$1" | base64 -w0)"
  to="$(printf '/%s/servers0' "$1" | base64 -w0)"
  curl -s -m 2 -X POST "http://127.0.0.1:$etcd_port/v3/kv/range" \
    -d "{\"key\":\"$from\",\"range_end\":\"$to\",\"keys_only\":true}" | python3 -c '
import base64, json, sys
kvs = json.load(sys.stdin).get("kvs", [])
print(" ".join(sorted((base64.b64decode(k["key"]).decode().rsplit("/", 1)[1] for k in kvs), key=int)))'
}
# registry_record PREFIX ID: the server record under /PREFIX/servers/ID (its JSON), or nothing.
registry_record() {
  local key
  key="$(printf '/%s/servers/%s' "$1" "$2" | base64 -w0)"
  curl -s -m 2 -X POST "http://127.0.0.1:$etcd_port/v3/kv/range" -d "{\"key\":\"$key\"}" \
    | python3 -c '
import base64, json, sys
kvs = json.load(sys.stdin).get("kvs", [])
if kvs: print(base64.b64decode(kvs[0]["value"]).decode())'
}
