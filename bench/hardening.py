# Issue 15 figures on a real binary: `python3 bench/hardening.py BIN rss N` (200 concurrent unknown-email
# logins, N = RIVO_MAX_CONCURRENT_HASHES, 0 = cores) and `python3 bench/hardening.py BIN slow SECS`
# (2,000 half-open connections, SECS = RIVO_HEADER_READ_TIMEOUT_SECS). BIN must be an absolute path.
import os, socket, subprocess, sys, threading, time, json, tempfile, statistics
BIN = sys.argv[1]; mode = sys.argv[2]
def start(env_extra):
    d = tempfile.mkdtemp()
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    env = {"PATH": os.environ["PATH"], "BIND_ADDRESS": "127.0.0.1", "PORT": str(port),
           "DATABASE_URL": f"sqlite://{d}/m.sqlite3?mode=rwc", "RUST_LOG": "error"}
    env.update(env_extra)
    p = subprocess.Popen([BIN], env=env, cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            if get(port).startswith("HTTP/1.1 200"): break
        except Exception: time.sleep(0.1)
    return p, port
def get(port, path="/healthz"):
    c = socket.create_connection(("127.0.0.1", port), timeout=30)
    c.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    out = b""
    while True:
        b = c.recv(65536)
        if not b: break
        out += b
    c.close(); return out.decode(errors="replace")
def rss(pid):
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS"): return int(l.split()[1]) // 1024
def fds(pid): return len(os.listdir(f"/proc/{pid}/fd"))
def ticks(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")",1)[1].split(); return int(f[11]) + int(f[12])
def login(port, i, res):
    body = json.dumps({"email": f"nobody{i}@example.com", "password": "wrong password"})
    c = socket.create_connection(("127.0.0.1", port), timeout=120)
    c.sendall((f"POST /api/v1/account/login/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}").encode())
    out = b""
    while True:
        b = c.recv(65536)
        if not b: break
        out += b
    res.append(out[9:12].decode())
if mode == "rss":
    hashes = sys.argv[3]
    p, port = start({"RIVO_LOGIN_MAX_FAILURES_PER_ADDRESS": os.environ.get("PER_ADDR", "1000000"), "RIVO_MAX_CONCURRENT_HASHES": hashes, **({"MALLOC_ARENA_MAX": os.environ["ARENAS"]} if "ARENAS" in os.environ else {})})
    idle = rss(p.pid); peak = idle; res = []
    ts = [threading.Thread(target=login, args=(port, i, res)) for i in range(200)]
    t0 = time.time()
    for t in ts: t.start()
    while any(t.is_alive() for t in ts):
        peak = max(peak, rss(p.pid)); time.sleep(0.02)
    dt = time.time() - t0
    time.sleep(5); after = rss(p.pid); time.sleep(15); after20 = rss(p.pid)
    from collections import Counter
    print(f"RSS hashes={hashes}: idle={idle} MB peak={peak} MB 5s-after={after} MB 20s-after={after20} MB; 200 logins in {dt:.1f}s statuses={dict(Counter(res))}")
    p.terminate(); p.wait()
elif mode == "slow":
    p, port = start({"RIVO_HEADER_READ_TIMEOUT_SECS": sys.argv[3]})
    base_fds = fds(p.pid); held = []
    for i in range(2000):
        c = socket.create_connection(("127.0.0.1", port), timeout=10)
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n"); held.append(c)
    time.sleep(1)
    during = fds(p.pid); t0 = ticks(p.pid); lat = []
    for _ in range(20):
        s = time.time(); r = get(port); lat.append((time.time() - s) * 1000); assert r.startswith("HTTP/1.1 200"), r[:40]
    time.sleep(2); cpu = (ticks(p.pid) - t0)
    print(f"SLOW 2000 half-open: server fds {base_fds} -> {during}; healthz latency p50={statistics.median(lat):.1f} ms max={max(lat):.1f} ms; CPU ticks over ~2.5 s: {cpu}")
    time.sleep(int(sys.argv[3]) + 3)
    closed = 0
    for c in held:
        c.settimeout(0.01)
        try:
            if c.recv(10) == b"": closed += 1
        except (BlockingIOError, socket.timeout): pass
        except OSError: closed += 1
    print(f"SLOW after the header timeout ({sys.argv[3]} s): {closed}/2000 closed by the server, server fds {fds(p.pid)}")
    s = time.time(); p.terminate(); p.wait(); print(f"SIGTERM exit {p.returncode} in {time.time()-s:.2f}s")
