#!/usr/bin/python3
"""buddykv's memcached front end end to end (docs/memcached.md), against the real binaries.

  e2e_memcached.py BIN diff DESIGN     the same scripted command streams (text and meta, errors,
                                       cas races, noreply, expiry, limits) to a real memcached and
                                       to buddykv-server --design DESIGN; replies compared byte for
                                       byte after the documented normalisations (CAS values, the
                                       VERSION line)
  e2e_memcached.py BIN limits DESIGN   10,000 idle connections, connections over the limit, a line
                                       without newline, a 200 MB value: each answered or closed
                                       as documented and counted, others served meanwhile
  e2e_memcached.py BIN clients DESIGN  stock clients: pymemcache (python3-pymemcache) and the
                                       libmemcached tools (memccp, memccat, memcrm, memcexist,
                                       memctouch, memcflush, memcstat) against buddykv

In every mode the memcached port must be where docs/memcached.md ("Where it runs") puts it: the
listening socket belongs to buddykv-server in cpu-only and to its buddykv-engine process in the
offloaded designs, and the final STATS name that side and count the front end's CPU time.

Every server runs on loopback with temporary state and is stopped at the end; any difference or
failure prints one line per problem and exits 1.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN = sys.argv[1]
MODE = sys.argv[2]
DESIGN = sys.argv[3] if len(sys.argv) > 3 else "cpu-only"
NAME = f"e2e_memcached {MODE} {DESIGN}"
procs = []
work = tempfile.mkdtemp(prefix="buddykv-mc-")


def fail(msg):
    print(f"{NAME}: FAIL: {msg}", file=sys.stderr)
    err = os.path.join(work, "server.err")
    if os.path.exists(err):
        for line in open(err, errors="replace").read().splitlines()[-20:]:
            print("  server: " + line, file=sys.stderr)
    cleanup()
    sys.exit(1)


def cleanup():
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    shutil.rmtree(work, ignore_errors=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, what):
    for _ in range(400):
        if proc.poll() is not None:
            fail(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    fail(f"{what} did not listen on {port}")


def listener_pid(port):
    """The pid of the process holding the TCP listener on 127.0.0.1:port (/proc), or None."""
    inode = None
    for line in open("/proc/net/tcp").readlines()[1:]:
        f = line.split()
        if f[1].endswith(":%04X" % port) and f[3] == "0A":
            inode = f[9]
    if inode is None:
        return None
    want = f"socket:[{inode}]"
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == want:
                    return int(pid)
        except OSError:
            continue
    return None


def check_side(p, port):
    """The memcached port is the server's own in cpu-only, its engine process's otherwise."""
    pid = listener_pid(port)
    if pid is None:
        fail(f"no process listens on memcached port {port}")
    comm = open(f"/proc/{pid}/comm").read().strip()
    if DESIGN == "cpu-only":
        if pid != p.pid:
            fail(f"cpu-only: memcached port held by {comm} (pid {pid}), not buddykv-server")
    elif pid == p.pid or comm != "buddykv-engine":
        fail(f"{DESIGN}: memcached port held by {comm} (pid {pid}), not the engine process")


def start_buddykv(*extra):
    args = [os.path.join(BIN, "buddykv-server"), "--design", DESIGN, "--port", "0",
            "--memory", "64M", "--memcached-port", "0", "--json"]
    if DESIGN == "cpu-only":
        args += ["--threads", "2", "--partitions-per-thread", "2"]
    else:
        args += ["--engine-threads", "2", "--partitions-per-thread", "2"]
    args += list(extra)
    err = open(os.path.join(work, "server.err"), "w")
    out = open(os.path.join(work, "stats.json"), "w")
    p = subprocess.Popen(args, stdout=out, stderr=err)
    procs.append(p)
    for _ in range(400):
        if p.poll() is not None:
            fail(f"buddykv-server exited with {p.returncode}")
        m = re.search(r"memcached protocol on [0-9.]+:(\d+)",
                      open(os.path.join(work, "server.err")).read())
        if m:
            port = int(m.group(1))
            wait_port(port, p, "buddykv-server")
            check_side(p, port)
            return p, port
        time.sleep(0.05)
    fail("buddykv-server did not announce its memcached port")


def stop_buddykv(p):
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=20)
    if rc != 0:
        fail(f"buddykv-server exited with {rc} on SIGTERM")
    import json
    stats = [json.loads(l) for l in open(os.path.join(work, "stats.json")) if l.strip()]
    if not stats or "memcached" not in stats[-1]:
        fail("no memcached counters in the final statistics")
    mc = stats[-1]["memcached"]
    side = "host" if DESIGN == "cpu-only" else "engine"
    if mc.get("side") != side:
        fail(f"final statistics put the memcached front end on {mc.get('side')}, not {side}")
    if not mc.get("cpu_ns", 0) > 0:
        fail("final statistics count no CPU time for the memcached front end")
    return mc


def start_memcached():
    for _ in range(5):
        port = free_port()
        args = ["memcached", "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", "64", "-t", "1"]
        if os.geteuid() == 0:
            args += ["-u", "root"]
        p = subprocess.Popen(args, stderr=subprocess.DEVNULL)
        procs.append(p)
        time.sleep(0.1)
        if p.poll() is None:
            wait_port(port, p, "memcached")
            return p, port
    fail("memcached did not start")


# ---- the differential test ----

def exchange(sock, data, until_eof):
    """Sends data (and, unless the connection is to end, the sentinel mn) and reads the replies."""
    out = b""
    try:
        sock.sendall(data if until_eof else data + b"mn\r\n")
    except (BrokenPipeError, ConnectionResetError):
        return b"<EOF>"
    sock.settimeout(10)
    while True:
        try:
            d = sock.recv(1 << 20)
        except socket.timeout:
            return out + b"<TIMEOUT>"
        except ConnectionResetError:  # closed with our data unread (a line over the limit)
            return out + b"<EOF>"
        if not d:
            return out + b"<EOF>"
        out += d
        if not until_eof and out.endswith(b"MN\r\n"):
            return out[:-4]


def normalise(b):
    b = re.sub(rb"^(VALUE \S+ \d+ \d+) \d+\r$", rb"\1 <cas>\r", b, flags=re.M)
    b = re.sub(rb"^((?:VA \d+|HD|EN|NF|NS|EX)(?: \S+)*?) c\d+", rb"\1 c<cas>", b, flags=re.M)
    b = re.sub(rb"^VERSION .*\r$", rb"VERSION <v>\r", b, flags=re.M)
    return b


def cas_of(replies, key):
    for r in reversed(replies):
        m = re.search(rb"VALUE " + key + rb" \d+ \d+ (\d+)\r\n", r)
        if m:
            return m.group(1)
    return b"0"


BIG = b"x" * 2000000
SESSIONS = {
    "text": [
        (0, b"set a 5 0 3\r\nabc\r\nget a b\r\ngets a\r\nget a a a\r\n"),
        (0, b"add a 0 0 1\r\nx\r\nadd b 7 0 1\r\ny\r\nreplace zz 0 0 1\r\nx\r\n"
            b"replace b 8 0 2\r\nyy\r\nget a b\r\n"),
        (0, b"append a 0 0 2\r\nXY\r\nprepend a 0 0 2\r\n__\r\nget a\r\nappend zz 0 0 1\r\nx\r\n"
            b"prepend zz 0 0 1\r\nx\r\n"),
        (0, b"set n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 100\r\nincr n 18446744073709551615\r\n"
            b"incr n 1\r\nincr zz 1\r\nincr a 1\r\nget n\r\n"),
        (0, b"set n 0 0 2\r\n99\r\nincr n 1\r\nget n\r\ndecr n 91\r\nget n\r\n"
            b"set n 0 0 3\r\n 12\r\nincr n 1\r\nset n 0 0 3\r\n007\r\nincr n 1\r\nget n\r\n"),
        (0, b"delete n\r\ndelete n\r\ndelete a 0\r\ndelete b noreply\r\nget a b\r\n"),
        (0, b"set t 1 0 1\r\nx\r\ntouch t 100\r\ntouch zz 10\r\ngat 100 t zz\r\ngats 0 t\r\n"),
        (0, b"set k 0 0 1\r\n\xff\r\nget k\r\nset e 0 0 0\r\n\r\nget e\r\n"),
        (0, b"verbosity 1\r\nversion\r\nflush_all\r\nget t k e\r\nset a 0 0 1\r\nx\r\nget a\r\n"),
        (0, b"flush_all noreply\r\nget a\r\n"),
        (0, b"get a\nset a 0 0 1\r\nz\r\nget a\n"),
        (0, b"quit\r\nget a\r\n", True),
    ],
    "errors": [
        (0, b"foo\r\n\r\nget\r\nget\ta\r\nset a 0 0\r\nset k 0 0 1 2 3\r\nx\r\n"),
        (0, b"get " + b"k" * 251 + b"\r\nget " + b"k" * 250 + b"\r\n"),
        (0, b"set " + b"k" * 251 + b" 0 0 1\r\nx\r\nget a\r\n"),
        (0, b"set a 0 0 3\r\nabcd\r\nget a\r\nset a 0 0 -1\r\nset a x 0 3\r\nabc\r\n"),
        (0, b"set a 0 0 1\r\nq\r\nset a 0 0 2000000\r\n" + BIG + b"\r\nget a\r\n"),
        (0, b"ms a 2000000 T0\r\n" + BIG + b"\r\nmg a v\r\n"),
        (0, b"incr n x\r\nincr n -1\r\ntouch k\r\nincr k\r\ndelete\r\ndelete a 5\r\n"
            b"cas k 0 0 1\r\nx\r\ncas k 0 0 1 abc\r\nx\r\ngets\r\n"),
        (0, b"flush_all x\r\nverbosity\r\nverbosity x\r\nset k 4294967295 0 1\r\nx\r\nget k\r\n"
            b"set k -1 0 1\r\nx\r\n"),
        (0, b"mg\r\nmx k\r\nms x\r\nms x abc\r\nmg k zz\r\nmg " + b"k" * 251 + b" v\r\n"
            b"ms k 2 Z\r\nhi\r\nmg k v E55\r\nma k MX\r\nms k 2 F-1\r\nhi\r\n"
            b"mg k v O" + b"o" * 33 + b"\r\n"),
        (1, b"x" * 70000, True),  # no newline: the connection is closed
    ],
    "meta": [
        (0, b"set k 3 0 2\r\nhi\r\nmg k v f t s k\r\nmg k\r\nmg zz v\r\nmg zz v q\r\n"
            b"mg k v O123 q\r\nmg k O99 k\r\nmg zz v O1 k\r\nmg k c\r\n"),
        (0, b"ms m 2 F7 T0\r\nhi\r\nms m 2 MA\r\nXY\r\nms m 2 MP\r\n__\r\nmg m v f\r\n"
            b"ms zz 1 ME\r\nx\r\nms zz 1 ME\r\ny\r\nms m 1 MR\r\nz\r\nms qq 1 MR\r\nz\r\n"
            b"mg m v\r\nms m 1 q\r\nw\r\nms m 1 c k O5\r\nv\r\nmg m v\r\n"),
        (0, b"md c\r\nms c 1\r\nx\r\nmd c\r\nmd c q\r\nms d 1\r\nx\r\nmd d C1\r\n"
            b"md d k O3\r\nmd d q\r\n"),
        (0, b"ma n\r\nma n N0 J5\r\nma n v\r\nma n D10 v\r\nma n MD D100 v\r\n"
            b"ma n M- D1 v t\r\nms s 1\r\nx\r\nma s\r\nma n q\r\nma nothere q\r\n"
            b"ma n k O9 v\r\nmg n v\r\n"),
        (0, b"mg k q\r\nmg k q k\r\nms zz 1 q MR\r\nx\r\nms k 1 q C1\r\nx\r\nmd k q C1\r\n"),
        (0, b"ms k 2 T-1\r\nhi\r\nmg k v\r\nmg k v O\r\nms t 1 T100\r\nx\r\nmg t v T30\r\n"
            b"mg t t v\r\n"),
        (0, b"mg k v\nms k 1\nx\r\n"),  # lines may end in a bare \n
    ],
    "cas-race": [
        (0, b"set r 0 0 1\r\na\r\ngets r\r\n"),
        (1, b"gets r\r\n"),
        (0, lambda rs: b"cas r 0 0 1 " + cas_of(rs, b"r") + b"\r\nb\r\n"),
        (1, lambda rs: b"cas r 0 0 1 " + cas_of(rs[:2], b"r") + b"\r\nc\r\nget r\r\n"),
        (1, b"gets r\r\n"),
        (1, lambda rs: b"cas r 0 0 1 " + cas_of(rs, b"r") + b" noreply\r\nd\r\nget r\r\n"),
        (0, b"cas zz 0 0 1 1\r\nx\r\nmg r c\r\n"),
        (0, lambda rs: b"ms r 1 C" + re.search(rb"c(\d+)", rs[-1]).group(1) + b"\r\ne\r\n"
                       b"ms r 1 C1\r\nf\r\nmg r v\r\n"),
        (0, b"set nr 0 0 1 noreply\r\nx\r\nget nr\r\nincr nr 1 noreply\r\n"
            b"add nr 0 0 1 noreply\r\ny\r\nget nr\r\n"),
    ],
    "expiry": [
        (0, b"set e 0 -1 1\r\nx\r\nget e\r\nset e1 0 1 1\r\nx\r\nms e2 1 T1\r\ny\r\n"
            b"set e3 0 100 1\r\nz\r\nset e4 0 1 1\r\nw\r\ntouch e4 100\r\nget e1 e2 e3 e4\r\n"),
        ("sleep", 2.5),
        (0, b"get e1 e2 e3 e4\r\nmg e1 v\r\nadd e1 0 0 1\r\nq\r\nget e1\r\ntouch e2 10\r\n"
            b"incr e2 1\r\ndelete e2\r\n"),
    ],
}


def session(port, steps):
    conns, replies = {}, []
    for step in steps:
        if step[0] == "sleep":
            time.sleep(step[1])
            continue
        cid, data = step[0], step[1]
        until_eof = len(step) > 2 and step[2]
        if cid not in conns:
            conns[cid] = socket.create_connection(("127.0.0.1", port), timeout=10)
        if callable(data):
            data = data(replies)
        replies.append(exchange(conns[cid], data, until_eof))
    for s in conns.values():
        s.close()
    return replies


def run_diff():
    mp, mport = start_memcached()
    bp, bport = start_buddykv("--max-datagram", "65507")
    problems = 0
    for name, steps in SESSIONS.items():
        want = session(mport, steps)
        # memcached's clock ticks once a second at its start's phase, so its own 1-second items
        # can expire within step 0; that session says nothing then and is run again
        for _ in range(3):
            if name != "expiry" or want[0].count(b"VALUE ") == 4:
                break
            want = session(mport, steps)
        got = session(bport, steps)
        for i, (w, g) in enumerate(zip(want, got)):
            if normalise(w) != normalise(g):
                problems += 1
                print(f"{NAME}: session {name} step {i}:\n  memcached: {normalise(w)[:400]!r}\n"
                      f"  buddykv:   {normalise(g)[:400]!r}", file=sys.stderr)
    mp.terminate()
    mp.wait()
    c = stop_buddykv(bp)
    if problems:
        fail(f"{problems} step(s) differ")
    if c["errors"]["too_large"] < 2 or c["errors"]["line_too_long"] < 1 or \
            c["errors"]["unknown_command"] < 5 or c["closed_bad_line"] < 1:
        fail(f"errors not counted: {c}")
    steps = sum(len([s for s in v if s[0] != "sleep"]) for v in SESSIONS.values())
    print(f"{NAME}: {steps} steps in {len(SESSIONS)} sessions identical to memcached; "
          f"commands {sum(c['commands'].values())}, errors {c['errors']}")


# ---- stock clients ----

def run_clients():
    bp, port = start_buddykv("--max-datagram", "65507")
    from pymemcache.client.base import Client
    from pymemcache import serde
    cl = Client(("127.0.0.1", port), serde=serde.pickle_serde, connect_timeout=5, timeout=10)
    check = []

    def expect(what, got, want):
        if got != want:
            check.append(f"{what}: got {repr(got)[:200]}, want {repr(want)[:200]}")

    # Every kind of value pickle_serde maps to its own flags; noreply sets (pymemcache's
    # default) followed by reads on the same connection see them.
    for k, v in {"s": "text", "i": 42, "b": b"\x00bytes\xff", "d": {"a": [1, 2]}}.items():
        cl.set(k, v)
        expect(f"get {k}", cl.get(k), v)
    keys = {f"key:{i}": f"value-{i}".encode() * (1 + i % 7) for i in range(300)}
    cl.set_many(keys)
    expect("get_many 300 keys over 4 partitions", cl.get_many(list(keys)), keys)
    expect("add existing", cl.add("s", "x", noreply=False), False)
    expect("add new", cl.add("new", "x", noreply=False), True)
    expect("replace missing", cl.replace("missing", "x", noreply=False), False)
    cl.set("ap", b"mid", noreply=False)
    cl.append("ap", b">", noreply=False)
    cl.prepend("ap", b"<", noreply=False)
    expect("append/prepend", cl.get("ap"), b"<mid>")
    v, cas = cl.gets("ap")
    expect("cas ok", cl.cas("ap", b"new", cas, noreply=False), True)
    expect("cas stale", cl.cas("ap", b"newer", cas, noreply=False), False)
    cl.set("n", 10, noreply=False)
    expect("incr", cl.incr("n", 5), 15)
    expect("decr", cl.decr("n", 20), 0)
    expect("incr missing", cl.incr("nothere", 1), None)
    expect("delete", cl.delete("n", noreply=False), True)
    expect("delete missing", cl.delete("n", noreply=False), False)
    expect("touch", cl.touch("ap", 100, noreply=False), True)
    cl.set("ttl", b"x", expire=1, noreply=False)
    time.sleep(2.2)
    expect("expired", cl.get("ttl"), None)
    expect("version", cl.version().startswith(b"1.6"), True)
    expect("stats", b"curr_connections" in cl.stats() or "curr_connections" in
           {k.decode() if isinstance(k, bytes) else k for k in cl.stats()}, True)
    # A value over the item limit: the client gets memcached's own error.
    try:
        cl.set("huge", b"x" * 2000000, noreply=False)
        check.append("a 2 MB value was stored")
    except Exception as e:  # pymemcache raises MemcacheServerError
        expect("too large", "object too large" in str(e), True)
    expect("flush_all", cl.flush_all(noreply=False), True)
    expect("after flush", cl.get_many(["s", "i", "key:1"]), {})
    cl.close()

    # Many connections at once, each pipelining, answered in order.
    clients = [Client(("127.0.0.1", port), connect_timeout=5, timeout=10) for _ in range(50)]
    for i, c in enumerate(clients):
        c.set_many({f"c{i}:{j}": str(i * 1000 + j).encode() for j in range(20)})
    for i, c in enumerate(clients):
        got = c.get_many([f"c{i}:{j}" for j in range(20)])
        expect(f"client {i}", got, {f"c{i}:{j}": str(i * 1000 + j).encode() for j in range(20)})
        c.close()

    # The libmemcached tools.
    servers = f"--servers=127.0.0.1:{port}"
    files = []
    for i, size in enumerate([0, 1, 700, 5000]):
        path = os.path.join(work, f"file{i}.txt")
        with open(path, "wb") as f:
            f.write(bytes((j * 7 + i) % 251 for j in range(size)))
        files.append(path)

    def tool(*args, ok=True):
        r = subprocess.run(list(args), capture_output=True, timeout=30)
        if ok and r.returncode != 0:
            check.append(f"{' '.join(args)}: exit {r.returncode}: {r.stderr[:200]!r}")
        return r

    tool("memccp", servers, "--flag=9", *files)
    for path in files:
        r = tool("memccat", servers, os.path.basename(path))
        expect(f"memccat {os.path.basename(path)}", r.stdout, open(path, "rb").read() + b"\n")
    r = tool("memccat", servers, "--flag", os.path.basename(files[2]))
    expect("memccat --flag", b"9" in r.stdout.split(b"\n")[0], True)
    tool("memcexist", servers, os.path.basename(files[1]))
    tool("memctouch", servers, "--expire=100", os.path.basename(files[1]))
    tool("memcrm", servers, os.path.basename(files[1]))
    expect("memcexist after memcrm",
           tool("memcexist", servers, os.path.basename(files[1]), ok=False).returncode != 0, True)
    r = tool("memcstat", servers)
    expect("memcstat", b"curr_connections" in r.stdout, True)
    tool("memcflush", servers)
    expect("memccat after memcflush",
           tool("memccat", servers, os.path.basename(files[2]), ok=False).returncode != 0, True)
    r = tool("memcslap", servers, "--concurrency=2", "--execute-number=500", "--flush")
    expect("memcslap", r.returncode, 0)

    c = stop_buddykv(bp)
    if c["timeouts"] != 0:
        check.append(f"{c['timeouts']} native request timeout(s)")
    if check:
        for line in check:
            print(f"{NAME}: {line}", file=sys.stderr)
        fail(f"{len(check)} check(s) failed")
    print(f"{NAME}: pymemcache and libmemcached tools passed; connections {c['connections']}, "
          f"commands {sum(c['commands'].values())}, native requests {c['native_requests']}, "
          f"retransmits {c['retransmits']}")


# ---- limits ----

def run_limits():
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    idle = min(10000, hard - 200)
    bp, port = start_buddykv("--memcached-connections", str(idle + 10))
    check = []

    def ask(sock, data, until=b"END\r\n"):
        sock.sendall(data)
        out = b""
        sock.settimeout(10)
        while not out.endswith(until):
            d = sock.recv(1 << 16)
            if not d:
                return out + b"<EOF>"
            out += d
        return out

    t0 = time.time()
    conns = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(idle)]
    opened = time.time() - t0
    # The server keeps serving with that many idle connections.
    live = socket.create_connection(("127.0.0.1", port), timeout=10)
    t0 = time.time()
    for i in range(200):
        r = ask(live, b"set k%d 0 0 1\r\nx\r\nget k%d\r\n" % (i, i))
        if r != b"STORED\r\nVALUE k%d 0 1\r\nx\r\nEND\r\n" % i:
            check.append(f"with {idle} idle connections: {r[:100]!r}")
            break
    per_cmd_ms = (time.time() - t0) / 400 * 1e3
    # Past --memcached-connections: answered and closed.
    extra = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(20)]
    refused = 0
    for s in extra:
        s.settimeout(0.5)
        try:
            if s.recv(100) == b"SERVER_ERROR too many open connections\r\n":
                refused += 1
        except socket.timeout:
            pass
    if refused != 11:
        check.append(f"{refused} of 20 connections refused, want 11 (limit {idle + 10})")
    for s in conns + extra:
        s.close()
    # A line with no newline: closed after the line limit, others served meanwhile.
    bad = socket.create_connection(("127.0.0.1", port), timeout=10)
    sent = 0
    try:
        while sent < (64 << 20):
            bad.sendall(b"g" * (1 << 20))
            sent += 1 << 20
    except (BrokenPipeError, ConnectionResetError):
        pass
    if sent >= (64 << 20):
        check.append("64 MB without a newline did not close the connection")
    r = ask(live, b"get k1\r\n")
    if r != b"VALUE k1 0 1\r\nx\r\nEND\r\n":
        check.append(f"after the long line: {r!r}")
    # A 200 MB value: refused at once, its bytes discarded, the connection goes on.
    big = socket.create_connection(("127.0.0.1", port), timeout=10)
    r = ask(big, b"set big 0 0 200000000\r\n", until=b"\r\n")
    if r != b"SERVER_ERROR object too large for cache\r\n":
        check.append(f"200 MB value: {r!r}")
    chunk = b"v" * (1 << 20)
    for _ in range(190):
        big.sendall(chunk)
    r = ask(live, b"get k2\r\n")  # another connection is served while the data streams
    if r != b"VALUE k2 0 1\r\nx\r\nEND\r\n":
        check.append(f"during the 200 MB value: {r!r}")
    big.sendall(b"v" * (200000000 - 190 * (1 << 20)) + b"\r\n")
    r = ask(big, b"get k3 big\r\n")
    if r != b"VALUE k3 0 1\r\nx\r\nEND\r\n":
        check.append(f"after the 200 MB value: {r!r}")
    live.close()
    big.close()
    c = stop_buddykv(bp)
    if c["refused_connections"] != 11 or c["closed_bad_line"] != 1 or \
            c["errors"]["too_large"] != 1 or c["errors"]["line_too_long"] != 1:
        check.append(f"counters: {c}")
    if check:
        for line in check:
            print(f"{NAME}: {line}", file=sys.stderr)
        fail(f"{len(check)} check(s) failed")
    print(f"{NAME}: {idle} idle connections opened in {opened:.2f} s, a command then takes "
          f"{per_cmd_ms:.3f} ms; 11 of 20 over the limit refused; a line without newline "
          f"closed; a 200 MB value refused and discarded")


for tool_name in ["memcached", "memccp"]:
    if shutil.which(tool_name) is None:
        fail(f"{tool_name} is not installed (./buddy setup installs memcached and "
             "libmemcached-tools)")
try:
    if MODE == "diff":
        run_diff()
    elif MODE == "clients":
        run_clients()
    elif MODE == "limits":
        run_limits()
    else:
        fail(f"unknown mode {MODE}")
finally:
    cleanup()
