#!/usr/bin/env python3
"""orco's benchmark suite: each scenario for orco and for every peer that can express it,
runs alternated, results written to bench/results/LATEST.md and LATEST.json.

Run through bench/run.sh, which installs the peers and builds the binaries. Standard library
only. Every process this driver starts is in a session of its own and is stopped through
its process group or its own protocol; containers carry the label `orco-bench=RUN`.
"""

import argparse
import errno
import json
import os
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLK_TCK = os.sysconf("SC_CLK_TCK")
RUN = "%x" % (int(time.time()) & 0xFFFFFF)


def log(*args):
    print("[bench]", *args, file=sys.stderr, flush=True)


def now_ns():
    return time.monotonic_ns()


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


# --------------------------------------------------------------------------------------------
# Statistics and the results table


def pct(values, p):
    if not values:
        return None
    values = sorted(values)
    i = round((len(values) - 1) * p)
    return values[i]


class Results:
    def __init__(self):
        self.rows = []
        self.notes = []
        self.skipped = []

    def add(self, scenario, measure, system, values, unit, goal=None, lower_is_better=True,
            note=None, limit=None):
        values = [v for v in values if v is not None]
        row = {
            "scenario": scenario,
            "measure": measure,
            "system": system,
            "unit": unit,
            "runs": len(values),
            "median": statistics.median(values) if values else None,
            "p90": pct(values, 0.9),
            "values": values,
            "goal": goal,
            "limit": limit,
            "lower_is_better": lower_is_better,
            "note": note,
            "loadavg": loadavg(),
        }
        self.rows.append(row)
        log(f"{scenario} / {measure} / {system}: median {fmt(row['median'])} {unit}"
            f" (n={len(values)})")
        return row

    def skip(self, what, why):
        self.skipped.append({"what": what, "why": why})
        log(f"skipped {what}: {why}")


def fmt(v):
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def ratio_text(orco, peer, lower_is_better):
    r = orco / peer if lower_is_better else peer / orco
    return f"{r:.2f}" if r >= 0.1 else f"{r:.2g}"


def verdict(row):
    """Met or missed (and by how much) for a goal written `≤ N`, `< N` or `≥ N`."""
    import re
    m = re.match(r"\s*([≤<≥])\s*([\d.,]+)", row["goal"] or "")
    if not m or row["median"] is None:
        return "not measured"
    # A goal relative to a peer (`≤ 1.3 × make`) comes with its limit in the row's unit.
    limit = row.get("limit") or float(m.group(2).replace(",", ""))
    v = row["median"]
    ok = {"≤": v <= limit, "<": v < limit, "≥": v >= limit}[m.group(1)]
    if ok:
        return "met"
    if m.group(1) == "≥":
        return f"missed by {fmt(limit - v)} {row['unit']} ({v / limit:.2f}× the goal)"
    return f"missed by {fmt(v - limit)} {row['unit']} ({v / limit:.2f}× the goal)"


def write_report(results, meta, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "LATEST.json"), "w") as f:
        json.dump({"meta": meta, "rows": results.rows, "skipped": results.skipped,
                   "notes": results.notes}, f, indent=1)
    lines = ["# Benchmarks: orco and its peers, side by side", ""]
    lines.append(f"`bench/run.sh` on {meta['date']} — {meta['cpus']} cores, {meta['kernel']}, "
                 f"orco {meta['orco_commit']}; load average at start "
                 f"{' '.join(map(str, meta['loadavg_start']))}, at end "
                 f"{' '.join(map(str, meta['loadavg_end']))}. Runs of orco and of each peer "
                 "alternate; the machine was shared with other work, so numbers are noisy.")
    lines.append("")
    lines.append("Ratio = orco's median / the peer's median (for a rate, the peer's / orco's: "
                 "below 1 means orco is better in both cases).")
    lines.append("")
    scenarios = []
    for r in results.rows:
        if r["scenario"] not in scenarios:
            scenarios.append(r["scenario"])
    for s in scenarios:
        lines.append(f"## {s}")
        lines.append("")
        lines.append("| measure | system | runs | median | p90 | unit | orco/peer | goal | load |")
        lines.append("|---|---|---|---|---|---|---|---|---|")
        rows = [r for r in results.rows if r["scenario"] == s]
        for r in rows:
            ratio = "—"
            if r["system"] != "orco" and not r["system"].startswith("ideal") \
                    and not r["system"].startswith("baseline"):
                orco = [o for o in rows if o["measure"] == r["measure"] and o["system"] == "orco"]
                if orco and orco[0]["median"] and r["median"]:
                    ratio = ratio_text(orco[0]["median"], r["median"], r["lower_is_better"])
            elif r["system"].startswith(("ideal", "baseline")):
                orco = [o for o in rows if o["measure"] == r["measure"] and o["system"] == "orco"]
                if orco and orco[0]["median"] and r["median"]:
                    ratio = ratio_text(orco[0]["median"], r["median"], r["lower_is_better"])
            system = r["system"] + (f" ({r['note']})" if r["note"] else "")
            load = f"{r['loadavg'][0]:.1f}"
            lines.append(f"| {r['measure']} | {system} | {r['runs']} | {fmt(r['median'])} | "
                         f"{fmt(r['p90'])} | {r['unit']} | {ratio} | {r['goal'] or ''} | {load} |")
        lines.append("")
    goals = [r for r in results.rows if r["system"] == "orco" and r["goal"]]
    if goals:
        lines.append("## Against the goals of DESIGN.md §4")
        lines.append("")
        lines.append("| measure | orco median | goal | verdict |")
        lines.append("|---|---|---|---|")
        for r in goals:
            lines.append(f"| {r['scenario'].split(' (')[0]}: {r['measure']} | "
                         f"{fmt(r['median'])} {r['unit']} | {r['goal']} | {verdict(r)} |")
        lines.append("")
    if results.skipped:
        lines.append("## Skipped")
        lines.append("")
        for s in results.skipped:
            lines.append(f"- {s['what']}: {s['why']}")
        lines.append("")
    if results.notes:
        lines.append("## Notes")
        lines.append("")
        for n in results.notes:
            lines.append(f"- {n}")
        lines.append("")
    with open(os.path.join(out_dir, "LATEST.md"), "w") as f:
        f.write("\n".join(lines))


# --------------------------------------------------------------------------------------------
# Processes


def spawn(argv, **kw):
    """Starts a process in a session (and process group) of its own."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    kw.setdefault("stdout", subprocess.DEVNULL)
    kw.setdefault("stderr", subprocess.DEVNULL)
    return subprocess.Popen(argv, start_new_session=True, **kw)


def kill_group(pgid, sig=signal.SIGKILL):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_popen(p, timeout=5.0):
    """Stops a process this driver started, and everything left in its process group."""
    if p is None:
        return
    kill_group(p.pid, signal.SIGTERM)
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    kill_group(p.pid, signal.SIGKILL)
    try:
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def proc_table():
    """pid -> (ppid, comm) for every process."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        rpar = stat.rfind(")")
        comm = stat[stat.find("(") + 1:rpar]
        fields = stat[rpar + 2:].split()
        table[int(name)] = (int(fields[1]), comm)
    return table


def descendants(root, table=None):
    table = table or proc_table()
    children = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def pss_kb(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            fields = stat[stat.rfind(")") + 2:].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total


def find_by_marker(marker, exclude=()):
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) not in exclude and marker in cmdline(name).split():
            return int(name)
    return None


def wait_until(pred, timeout, interval=0.005):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    return None


def port_open(port):
    s = socket.socket()
    s.settimeout(0.2)
    try:
        s.connect(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def wait_ports(ports, timeout):
    """Polls until every port accepts: {port: monotonic ns it first did} (ports that never
    did are missing)."""
    todo = set(ports)
    seen = {}
    deadline = time.monotonic() + timeout
    while todo and time.monotonic() < deadline:
        for p in list(todo):
            if port_open(p):
                seen[p] = now_ns()
                todo.discard(p)
        if todo:
            time.sleep(0.002)
    return seen


def all_ready(seen, ports, t0):
    """Seconds from t0 until the last port accepted, or None when one never did."""
    if len(seen) < len(ports):
        return None
    return (max(seen.values()) - t0) / 1e9


def out_of_order(kind, ports, seen):
    """How many services accepted before their dependencies were ready + 150 ms (each
    listens 200 ms after its own start, which must follow its dependencies' readiness)."""
    names = {n: ports[i] for i, (n, _) in enumerate(topology(kind))}
    bad = 0
    for i, (n, deps) in enumerate(topology(kind)):
        if not deps or ports[i] not in seen:
            continue
        dep_ready = max(seen.get(names[d], 0) for d in deps)
        if seen[ports[i]] < dep_ready + 150e6:
            bad += 1
    return bad


_next_port = [20000 + (os.getpid() % 100) * 100]


def free_ports(n):
    """n ports that nothing listens on now and that no earlier call handed out, so that a
    process left over from one run can never answer for the next."""
    out = []
    while len(out) < n:
        p = _next_port[0]
        _next_port[0] = 20000 if p >= 32000 else p + 1
        if not port_open(p):
            out.append(p)
    return out


def reap_leftovers(pids):
    """SIGKILLs those of `pids` (processes this driver started, listed while their
    supervisor still ran) that outlived their supervisor's shutdown; pids are checked
    against the command line they had, so a reused pid is left alone."""
    for pid, cmd in pids:
        if cmdline(pid) == cmd:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def tree(root):
    return [(p, cmdline(p)) for p in descendants(root)]


# --------------------------------------------------------------------------------------------
# Exec detection: the kernel's process connector reports every exec with its monotonic time.


class ExecWatch:
    """Listens to the proc connector; falls back to polling /proc when it is unavailable."""

    def __init__(self):
        self.sock = None
        try:
            s = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 11)  # NETLINK_CONNECTOR
            try:
                s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE
            except OSError:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
            s.bind((0, 1))  # CN_IDX_PROC group
            op = struct.pack("I", 1)  # PROC_CN_MCAST_LISTEN
            cn = struct.pack("IIIIHH", 1, 1, 0, 0, len(op), 0) + op
            s.send(struct.pack("IHHII", 16 + len(cn), 3, 0, 0, 0) + cn)
            self.sock = s
        except OSError as e:
            log(f"process connector unavailable ({e}); polling /proc instead")
        self.method = "proc connector" if self.sock else "/proc polling"

    def drain(self):
        if not self.sock:
            return
        self.sock.setblocking(False)
        try:
            while True:
                self.sock.recv(65536)
        except (BlockingIOError, OSError):
            pass
        self.sock.setblocking(True)

    def wait_exec(self, marker, exclude, timeout):
        """(pid, monotonic ns of its exec) of the first process whose command line holds
        `marker` as a word and whose pid is not `exclude`."""
        deadline = time.monotonic() + timeout
        if not self.sock:
            while time.monotonic() < deadline:
                pid = find_by_marker(marker, exclude={exclude})
                if pid:
                    return pid, now_ns()
                time.sleep(0.001)
            return None, None
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                break
            except OSError as e:
                if e.errno == errno.ENOBUFS:
                    continue
                raise
            off = 0
            while off + 16 <= len(data):
                length = struct.unpack_from("I", data, off)[0]
                what, _cpu, ts = struct.unpack_from("IIQ", data, off + 16 + 20)
                if what == 2:  # PROC_EVENT_EXEC
                    pid = struct.unpack_from("i", data, off + 16 + 20 + 16)[0]
                    if pid != exclude and marker in cmdline(pid).split():
                        return pid, ts
                off += (length + 3) & ~3
                if length == 0:
                    break
        pid = find_by_marker(marker, exclude={exclude})
        return (pid, now_ns()) if pid else (None, None)


# --------------------------------------------------------------------------------------------
# orco


class Orco:
    """One orco daemon with its own data dir and socket, and the keeper it starts."""

    def __init__(self, ctx, name, extra=()):
        self.ctx = ctx
        self.extra = list(extra)
        self.dir = os.path.join(ctx.work, f"orco-{name}")
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "orco.sock")
        os.makedirs(self.dir, exist_ok=True)
        self.env = dict(os.environ, ORCO_HOST=f"unix://{self.sock}", ORCO_DATA_DIR=self.data,
                        NO_COLOR="1")
        self.daemon = None

    def start(self, timeout=30):
        self.daemon = spawn([self.ctx.orco, "daemon", "--data-dir", self.data, "--socket",
                             self.sock, *self.extra], env=self.env,
                            stderr=open(os.path.join(self.dir, "daemon.log"), "ab"))
        ok = wait_until(self.answers, timeout, 0.002)
        if not ok:
            raise RuntimeError(f"orco daemon did not answer within {timeout}s "
                               f"(see {self.dir}/daemon.log)")

    def answers(self):
        return http_get(self.sock, "/api/v1/workloads") is not None

    def cli(self, *args, timeout=300, check=True):
        p = subprocess.run([self.ctx.orco, *args], env=self.env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        if check and p.returncode != 0:
            raise RuntimeError(f"orco {' '.join(args)} failed ({p.returncode}): "
                               f"{p.stderr.decode(errors='replace')[-2000:]}")
        return p

    def keeper_pid(self):
        table = proc_table()
        for pid, (_, comm) in table.items():
            if comm == "orco" and f"keeper --dir {self.data}/keeper" in cmdline(pid):
                return pid
        return None

    def pids(self):
        """The daemon and the keeper: every orco process (instances excluded)."""
        out = [self.daemon.pid] if self.daemon and self.daemon.poll() is None else []
        k = self.keeper_pid()
        if k:
            out.append(k)
        return out

    def kill9(self):
        os.kill(self.daemon.pid, signal.SIGKILL)
        self.daemon.wait()

    def close(self):
        if self.daemon and self.daemon.poll() is None:
            try:
                self.cli("down", "--all", check=False, timeout=60) if False else None
            except Exception:
                pass
            stop_popen(self.daemon)
        # The keeper outlives the daemon by design: stop it (and its instances) through its
        # own protocol.
        if os.path.isdir(os.path.join(self.data, "keeper")):
            subprocess.run([self.ctx.bench_bin, "keeper-stop", "--dir",
                            os.path.join(self.data, "keeper")], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


def http_get(sock_path, path, timeout=2.0):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    try:
        s.connect(sock_path)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                  .encode())
        chunks = []
        while True:
            c = s.recv(65536)
            if not c:
                break
            chunks.append(c)
        data = b"".join(chunks)
        if data.startswith(b"HTTP/1.1 200"):
            return data
        return None
    except OSError:
        return None
    finally:
        s.close()


def stack_yaml(name, services):
    """services: list of dicts(name, command, deps, health_port, restart, replicas)."""
    out = [f"version: 0.1", f"stack: {{name: {name}}}", "services:"]
    for s in services:
        out.append(f"  {s['name']}:")
        out.append(f"    command: {json.dumps(s['command'])}")
        if s.get("replicas") is not None:
            out.append(f"    replicas: {s['replicas']}")
        if s.get("health_port"):
            out.append(f"    health:")
            out.append(f"      tcp: {{host: 127.0.0.1, port: {s['health_port']}}}")
        if s.get("deps"):
            out.append(f"    dependsOn:")
            for d in s["deps"]:
                out.append(f"      - {{target: {d}, require: ready}}")
        if s.get("restart"):
            out.append(f"    restartPolicy: {s['restart']}")
    return "\n".join(out) + "\n"


FAST_RESTART = "{mode: always, maxRetries: 0, backoff: {min: 0s, max: 1s}, resetAfter: 1s}"


# --------------------------------------------------------------------------------------------
# Peers


def write_exec(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)


class S6:
    def __init__(self, ctx, name):
        self.scan = os.path.join(ctx.work, f"s6-{name}")
        os.makedirs(self.scan, exist_ok=True)
        self.proc = None

    def service(self, name, run, notify=False, down=False):
        d = os.path.join(self.scan, name)
        os.makedirs(d, exist_ok=True)
        write_exec(os.path.join(d, "run"), run)
        if notify:
            with open(os.path.join(d, "notification-fd"), "w") as f:
                f.write("3\n")
        if down:
            open(os.path.join(d, "down"), "w").close()
        return d

    def start(self):
        self.proc = spawn(["s6-svscan", self.scan])

    def pids(self):
        return [self.proc.pid] + [p for p in descendants(self.proc.pid)
                                  if proc_table().get(p, (0, ""))[1] == "s6-supervise"]

    def close(self):
        if self.proc:
            started = tree(self.proc.pid)
            subprocess.run(["s6-svscanctl", "-t", self.scan], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=10)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            stop_popen(self.proc)
            reap_leftovers(started)
        shutil.rmtree(self.scan, ignore_errors=True)


class Runit:
    def __init__(self, ctx, name):
        self.dir = os.path.join(ctx.work, f"runit-{name}")
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None

    def service(self, name, run, check=None, down=False):
        d = os.path.join(self.dir, name)
        os.makedirs(d, exist_ok=True)
        write_exec(os.path.join(d, "run"), run)
        if check:
            write_exec(os.path.join(d, "check"), check)
        if down:
            open(os.path.join(d, "down"), "w").close()
        return d

    def start(self):
        self.proc = spawn(["runsvdir", self.dir])

    def pids(self):
        t = proc_table()
        return [self.proc.pid] + [p for p in descendants(self.proc.pid, t)
                                  if t.get(p, (0, ""))[1] == "runsv"]

    def close(self):
        if self.proc:
            started = tree(self.proc.pid)
            # runsvdir sends SIGTERM to every runsv on SIGHUP; runsv stops its service.
            kill_group(self.proc.pid, signal.SIGHUP)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            stop_popen(self.proc)
            reap_leftovers(started)
        shutil.rmtree(self.dir, ignore_errors=True)


class Supervisord:
    def __init__(self, ctx, name):
        self.ctx = ctx
        self.dir = os.path.join(ctx.work, f"supervisord-{name}")
        os.makedirs(self.dir, exist_ok=True)
        self.programs = []
        self.proc = None

    def program(self, name, command):
        self.programs.append((name, command))

    def start(self):
        conf = os.path.join(self.dir, "supervisord.conf")
        with open(conf, "w") as f:
            f.write(f"[supervisord]\nnodaemon=true\nlogfile={self.dir}/supervisord.log\n"
                    f"pidfile={self.dir}/supervisord.pid\nchildlogdir={self.dir}\n\n")
            f.write(f"[unix_http_server]\nfile={self.dir}/supervisor.sock\n\n")
            f.write("[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = "
                    "supervisor.rpcinterface:make_main_rpcinterface\n\n")
            for name, command in self.programs:
                f.write(f"[program:{name}]\ncommand={command}\nautorestart=true\n"
                        f"startsecs=0\nstartretries=1000\nstdout_logfile=NONE\n"
                        f"stderr_logfile=NONE\n\n")
        self.proc = spawn([self.ctx.supervisord, "-n", "-c", conf])

    def pids(self):
        return [self.proc.pid]

    def close(self):
        started = tree(self.proc.pid) if self.proc else []
        stop_popen(self.proc, timeout=10)
        reap_leftovers(started)
        shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Scenario 1: respawn latency


def respawn(ctx, res):
    tries = ctx.args.respawn_tries
    watch = ExecWatch()
    res.notes.append(f"Respawn: the new process is detected at its exec through the "
                     f"{watch.method} (kernel timestamp); the clock starts just before the "
                     "SIGKILL; every target has run at least 2 s when it is killed.")
    systems = []  # (name, marker, setup, teardown)
    base = 3_000_000 + (os.getpid() % 1000) * 10
    sleep = shutil.which("sleep")

    def marker(i):
        return str(base + i)

    # orco
    orco = Orco(ctx, "respawn")
    def orco_up():
        orco.start()
        path = os.path.join(orco.dir, "stack.yaml")
        with open(path, "w") as f:
            f.write(stack_yaml("respawn", [{"name": "target", "command": [sleep, marker(0)],
                                            "restart": FAST_RESTART}]))
        orco.cli("up", "-d", "--wait", "-f", path)
    systems.append(["orco", marker(0), orco_up, orco.close])

    runit = Runit(ctx, "respawn")
    def runit_up():
        runit.service("target", f"#!/bin/sh\nexec {sleep} {marker(1)}\n")
        runit.start()
    systems.append(["runit", marker(1), runit_up, runit.close])

    s6n = S6(ctx, "respawn-notify")
    def s6n_up():
        s6n.service("target", f"#!/bin/sh\necho >&3\nexec {sleep} {marker(2)}\n", notify=True)
        s6n.start()
    systems.append(["s6 (readiness notification)", marker(2), s6n_up, s6n.close])

    s6 = S6(ctx, "respawn")
    def s6_up():
        s6.service("target", f"#!/bin/sh\nexec {sleep} {marker(3)}\n")
        s6.start()
    systems.append(["s6", marker(3), s6_up, s6.close])

    if ctx.supervisord:
        sup = Supervisord(ctx, "respawn")
        def sup_up():
            sup.program("target", f"{sleep} {marker(4)}")
            sup.start()
        systems.append(["supervisord", marker(4), sup_up, sup.close])
    else:
        res.skip("respawn / supervisord", ctx.supervisord_why)

    docker_tries = min(tries, ctx.args.docker_respawn_tries)
    if ctx.docker:
        def docker_up(container=f"orco-bench-{RUN}-respawn"):
            subprocess.run(["docker", "run", "-d", "--restart=always", "--label",
                            f"orco-bench={RUN}", "--name", container, ctx.image, "sleep",
                            marker(5)], check=True, stdout=subprocess.DEVNULL, timeout=60)
        def docker_down():
            docker_rm_label()
        systems.append(["docker restart=always", marker(5), docker_up, docker_down])
    else:
        res.skip("respawn / docker", ctx.docker_why)

    times = {s[0]: [] for s in systems}
    current = {}
    started_at = {}
    try:
        for name, m, up, _ in systems:
            up()
            pid = wait_until(lambda: find_by_marker(m), 30)
            if not pid:
                raise RuntimeError(f"respawn: {name}'s target did not start")
            current[name] = pid
            started_at[name] = time.monotonic()
        for i in range(tries):
            for name, m, _, _ in systems:
                if name.startswith("docker") and i >= docker_tries:
                    continue
                wait = 2.0 - (time.monotonic() - started_at[name])
                if wait > 0:
                    time.sleep(wait)
                watch.drain()
                old = current[name]
                t0 = now_ns()
                os.kill(old, signal.SIGKILL)
                pid, ts = watch.wait_exec(m, old, 70)
                if pid is None:
                    log(f"respawn: {name} did not respawn within 70 s")
                    times[name].append(None)
                    current[name] = wait_until(lambda: find_by_marker(m), 30) or old
                else:
                    times[name].append((ts - t0) / 1e6)
                    current[name] = pid
                started_at[name] = time.monotonic()
    finally:
        for _, _, _, down in systems:
            try:
                down()
            except Exception as e:
                log(f"cleanup: {e}")
    for name, _, _, _ in systems:
        note = None
        if name.startswith("docker"):
            note = f"{docker_tries} tries: docker doubles its delay from 100 ms for a " \
                   "container that ran < 10 s"
        res.add("1. Respawn latency (SIGKILL → new process exec'd)", "kill → exec", name,
                times[name], "ms", goal="≤ 2 ms" if name == "orco" else None, note=note)


# --------------------------------------------------------------------------------------------
# Scenario 2: time to all ready


def topology(kind):
    """[(name, [deps])] for a chain of 10 or a 3-layer DAG of 30 (each depends on every
    service of the layer below)."""
    if kind == "chain":
        return [(f"s{i}", [f"s{i-1}"] if i else []) for i in range(10)]
    out = []
    for layer in range(3):
        for i in range(10):
            deps = [f"l{layer-1}s{j}" for j in range(10)] if layer else []
            out.append((f"l{layer}s{i}", deps))
    return out


def ready_orco(ctx, kind, ports):
    orco = Orco(ctx, f"ready-{kind}")
    try:
        orco.start()
        topo = topology(kind)
        services = [{"name": n, "command": [ctx.fixture, "--listen", f"{ports[i]}@200"],
                     "deps": deps, "health_port": ports[i]} for i, (n, deps) in enumerate(topo)]
        path = os.path.join(orco.dir, "stack.yaml")
        with open(path, "w") as f:
            f.write(stack_yaml(f"ready{kind}", services))
        t0 = now_ns()
        p = subprocess.Popen([ctx.orco, "up", "-d", "--wait", "-f", path], env=orco.env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seen = wait_ports(ports, 120)
        p.wait(timeout=120)
        t_cli = now_ns()
        orco.cli("down", "-f", path, check=False, timeout=120)
        return all_ready(seen, ports, t0), out_of_order(kind, ports, seen), (t_cli - t0) / 1e9
    finally:
        orco.close()


def ready_s6(ctx, kind, ports):
    s6 = S6(ctx, f"ready-{kind}")
    try:
        topo = topology(kind)
        dirs = []
        for i, (n, deps) in enumerate(topo):
            wait = ""
            if deps:
                wait = "s6-svwait -U " + " ".join(f"../{d}" for d in deps) + " || exit 1\n"
            run = (f"#!/bin/sh\n{wait}exec s6-notifyoncheck -w 5 -n 0 "
                   f"{ctx.fixture} --listen {ports[i]}@200\n")
            d = s6.service(n, run, notify=True, down=True)
            os.makedirs(os.path.join(d, "data"), exist_ok=True)
            write_exec(os.path.join(d, "data", "check"), "#!/bin/bash\nexec 2>/dev/null\n"
                       f"echo > /dev/tcp/127.0.0.1/{ports[i]}\n")
            dirs.append(d)
        s6.start()
        wait_until(lambda: all(os.path.exists(os.path.join(d, "supervise", "control"))
                               for d in dirs), 10)
        t0 = now_ns()
        for d in dirs:
            subprocess.run(["s6-svc", "-u", d])
        seen = wait_ports(ports, 120)
        return all_ready(seen, ports, t0), out_of_order(kind, ports, seen)
    finally:
        s6.close()


def ready_runit(ctx, kind, ports):
    runit = Runit(ctx, f"ready-{kind}")
    try:
        topo = topology(kind)
        dirs = []
        for i, (n, deps) in enumerate(topo):
            wait = ""
            if deps:
                wait = ("sv -w 60 check " + " ".join(f"../{d}" for d in deps) +
                        " >/dev/null || exit 1\n")
            run = f"#!/bin/sh\n{wait}exec {ctx.fixture} --listen {ports[i]}@200\n"
            check = f"#!/bin/bash\nexec 3<>/dev/tcp/127.0.0.1/{ports[i]}\n"
            dirs.append(runit.service(n, run, check=check, down=True))
        runit.start()
        wait_until(lambda: all(os.path.exists(os.path.join(d, "supervise", "ok"))
                               for d in dirs), 10)
        t0 = now_ns()
        subprocess.run(["sv", "up", *dirs], stdout=subprocess.DEVNULL)
        seen = wait_ports(ports, 120)
        return all_ready(seen, ports, t0), out_of_order(kind, ports, seen)
    finally:
        runit.close()


def ready_compose(ctx, kind, ports):
    d = os.path.join(ctx.work, f"compose-{kind}")
    os.makedirs(d, exist_ok=True)
    project = f"orcobench{RUN}{kind}"
    topo = topology(kind)
    lines = ['version: "2.4"', "services:"]
    for i, (n, deps) in enumerate(topo):
        lines += [f"  {n}:", f"    image: {ctx.image}",
                  "    command: [\"sh\", \"-c\", \"sleep 0.2; echo ok > /tmp/index.html; "
                  "exec httpd -f -p 80 -h /tmp\"]",
                  f"    ports: [\"127.0.0.1:{ports[i]}:80\"]",
                  f"    labels: {{orco-bench: \"{RUN}\"}}",
                  "    healthcheck:",
                  "      test: [\"CMD\", \"wget\", \"-q\", \"-O\", \"/dev/null\", "
                  "\"http://127.0.0.1/\"]",
                  "      interval: 100ms", "      timeout: 1s", "      retries: 100"]
        if deps:
            lines.append("    depends_on:")
            for dep in deps:
                lines += [f"      {dep}:", "        condition: service_healthy"]
    path = os.path.join(d, "docker-compose.yml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    cmd = ["docker-compose", "-p", project, "-f", path]
    try:
        t0 = now_ns()
        errors = os.path.join(ctx.work, f"compose-{kind}.log")
        p = subprocess.Popen(cmd + ["up", "-d"], stdout=subprocess.DEVNULL,
                             stderr=open(errors, "wb"))
        seen = wait_ports(ports, 180)
        p.wait(timeout=180)
        if len(seen) < len(ports):
            with open(errors, errors="replace") as f:
                log(f"docker-compose {kind}: {len(seen)}/{len(ports)} ready; exit "
                    f"{p.returncode}: {f.read()[-600:]}")
        return all_ready(seen, ports, t0), out_of_order(kind, ports, seen)
    finally:
        subprocess.run(cmd + ["down", "-t", "1"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=180)
        shutil.rmtree(d, ignore_errors=True)


def ready(ctx, res):
    for kind, ideal, count in [("chain", 2.0, 10), ("dag", 0.6, 30)]:
        systems = [("orco", lambda ports: ready_orco(ctx, kind, ports)),
                   ("s6 (readiness notification)", lambda ports: ready_s6(ctx, kind, ports)),
                   ("runit (sv check)", lambda ports: ready_runit(ctx, kind, ports))]
        if ctx.docker and shutil.which("docker-compose"):
            systems.append(("docker-compose v1 (healthchecks)",
                            lambda ports: ready_compose(ctx, kind, ports)))
        times = {n: [] for n, _ in systems}
        disorder = {n: 0 for n, _ in systems}
        cli = []
        runs = ctx.args.ready_runs
        for r in range(runs):
            for name, fn in systems:
                if name.startswith("docker") and r >= ctx.args.compose_runs:
                    continue
                ports = free_ports(count)
                try:
                    v = fn(ports)
                except Exception as e:
                    log(f"ready {kind} {name}: {e}")
                    v = (None, 0, None)
                if not wait_until(lambda: not any(port_open(p) for p in ports), 15, 0.05):
                    log(f"ready {kind} {name}: ports still answer 15 s after the teardown")
                times[name].append(v[0])
                disorder[name] += v[1]
                if name == "orco":
                    cli.append(v[2])
        label = "chain of 10" if kind == "chain" else "3-layer DAG of 30"
        scen = "2. Time to all ready (start command → every port accepts)"
        res.add(scen, label, "ideal", [ideal], "s")
        for name, _ in systems:
            note = None
            if disorder[name]:
                note = (f"out of order: {disorder[name]} dependents accepted before their "
                        "dependencies were ready, summed over the runs")
            res.add(scen, label, name, times[name], "s",
                    goal="≤ 2.05 s" if (kind == "chain" and name == "orco") else None,
                    note=note)
        res.add(scen, label + ", until `orco up -d --wait` returns", "orco", cli, "s")
    if not ctx.docker:
        res.skip("time to ready / docker-compose", ctx.docker_why)


# --------------------------------------------------------------------------------------------
# Scenario 3: footprint


def footprint(ctx, res):
    sleep = shutil.which("sleep")
    scen = "3. Footprint (supervisor processes only, instances excluded)"
    pss = {}
    for n in (1, 50):
        systems = []
        orco = Orco(ctx, f"foot{n}")
        def orco_up(orco=orco, n=n):
            orco.start()
            path = os.path.join(orco.dir, "stack.yaml")
            with open(path, "w") as f:
                f.write(stack_yaml("foot", [{"name": f"s{i}", "command": [sleep, "100000"]}
                                            for i in range(n)]))
            orco.cli("up", "-d", "--wait", "-f", path)
        systems.append(("orco", orco, orco_up))
        runit = Runit(ctx, f"foot{n}")
        def runit_up(runit=runit, n=n):
            for i in range(n):
                runit.service(f"s{i}", f"#!/bin/sh\nexec {sleep} 100000\n")
            runit.start()
            wait_until(lambda: len(runit.pids()) == n + 1, 20)
        systems.append(("runit", runit, runit_up))
        s6 = S6(ctx, f"foot{n}")
        def s6_up(s6=s6, n=n):
            for i in range(n):
                s6.service(f"s{i}", f"#!/bin/sh\nexec {sleep} 100000\n")
            s6.start()
            wait_until(lambda: len(s6.pids()) == n + 1, 20)
        systems.append(("s6", s6, s6_up))
        if ctx.supervisord:
            sup = Supervisord(ctx, f"foot{n}")
            def sup_up(sup=sup, n=n):
                for i in range(n):
                    sup.program(f"s{i}", f"{sleep} 100000")
                sup.start()
                wait_until(lambda: len(descendants(sup.proc.pid)) >= n, 30)
            systems.append(("supervisord", sup, sup_up))
        try:
            for name, s, up in systems:
                up()
            time.sleep(2)  # settle
            samples = {name: [] for name, _, _ in systems}
            parts = {"daemon": [], "keeper": []}
            for _ in range(3):
                for name, s, _ in systems:
                    samples[name].append(pss_kb(s.pids()) / 1024)
                parts["daemon"].append(pss_kb([orco.daemon.pid]) / 1024)
                parts["keeper"].append(pss_kb([orco.keeper_pid()]) / 1024)
                time.sleep(0.5)
            res.notes.append(f"Footprint, {n} service(s): orco's PSS is the daemon "
                             f"{statistics.median(parts['daemon']):.1f} MB + the keeper "
                             f"{statistics.median(parts['keeper']):.1f} MB.")
            for name, _, _ in systems:
                res.add(scen, f"PSS, {n} service{'s' if n > 1 else ''}", name, samples[name],
                        "MB", goal="≤ 8 MB" if (name == "orco" and n == 50) else None)
            if n == 50:
                secs = ctx.args.idle_seconds
                pids = {name: s.pids() for name, s, _ in systems}
                before = {name: cpu_ticks(p) for name, p in pids.items()}
                t0 = time.monotonic()
                time.sleep(secs)
                dt = time.monotonic() - t0
                for name, _, _ in systems:
                    used = (cpu_ticks(pids[name]) - before[name]) / CLK_TCK
                    res.add(scen, f"idle CPU, 50 services, {secs:.0f} s", name,
                            [100 * used / dt], "% of a core",
                            goal="< 0.5 %" if name == "orco" else None)
        finally:
            for _, s, _ in systems:
                s.close()


# --------------------------------------------------------------------------------------------
# Scenario 4: log throughput


def last_seq(logdir):
    best = 0
    try:
        names = os.listdir(logdir)
    except OSError:
        return 0
    for name in names:
        if not name.endswith(".ndjson"):
            continue
        path = os.path.join(logdir, name)
        try:
            with open(path, "rb") as f:
                f.seek(0, 2)
                size = f.tell()
                f.seek(max(0, size - 8192))
                tail = f.read().split(b"\n")
        except OSError:
            continue
        for line in reversed(tail):
            if line.startswith(b"{"):
                try:
                    best = max(best, json.loads(line).get("seq", 0))
                except ValueError:
                    continue
                break
    return best


def count_log(logdir):
    lines = dropped = notes = 0
    for name in sorted(os.listdir(logdir)):
        if not name.endswith(".ndjson"):
            continue
        with open(os.path.join(logdir, name), "rb") as f:
            for raw in f:
                try:
                    rec = json.loads(raw)
                except ValueError:
                    continue
                msg = rec.get("msg", "")
                if isinstance(msg, str) and msg.startswith("line "):
                    lines += 1
                else:
                    notes += 1
                    if isinstance(msg, str) and "dropped" in msg:
                        digits = [int(w) for w in msg.split() if w.isdigit()]
                        if digits:
                            dropped += digits[0]
    return lines, dropped, notes


def logs_orco(ctx, n_lines, producers):
    orco = Orco(ctx, "logs")
    try:
        orco.start()
        path = os.path.join(orco.dir, "stack.yaml")
        with open(path, "w") as f:
            f.write(stack_yaml("flood", [{"name": f"p{i}", "command": [ctx.fixture, "--lines",
                                                                        str(n_lines)]}
                                         for i in range(producers)]))
        logdir = os.path.join(orco.data, "logs", "flood")
        t0 = now_ns()
        orco.cli("up", "-d", "-f", path)
        expected = n_lines * producers
        last, last_change = 0, now_ns()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            s = last_seq(logdir)
            if s != last:
                last, last_change = s, now_ns()
            elif now_ns() - last_change > 1.5e9 and last > 0:
                break
            time.sleep(0.01)
        lines, dropped, notes = count_log(logdir)
        secs = (last_change - t0) / 1e9
        return {"lines": lines, "seconds": secs, "rate": lines / secs, "expected": expected,
                "lost": expected - lines, "dropped_noted": dropped}
    finally:
        orco.close()


def logs_baseline(ctx, n_lines, producers):
    d = os.path.join(ctx.work, "logs-baseline")
    os.makedirs(d, exist_ok=True)
    procs = []
    expected_bytes = sum(len(f"line {i}\n") for i in range(1, n_lines + 1))
    try:
        t0 = now_ns()
        for i in range(producers):
            procs.append(spawn([ctx.fixture, "--lines", str(n_lines)],
                               stdout=open(os.path.join(d, f"p{i}.log"), "wb")))
        def done():
            return all(os.path.getsize(os.path.join(d, f"p{i}.log")) >= expected_bytes
                       for i in range(producers))
        wait_until(done, 120, 0.002)
        secs = (now_ns() - t0) / 1e9
        return {"lines": n_lines * producers, "seconds": secs,
                "rate": n_lines * producers / secs}
    finally:
        for p in procs:
            stop_popen(p)
        shutil.rmtree(d, ignore_errors=True)


def logs(ctx, res):
    n, producers = ctx.args.log_lines, 10
    scen = "4. Log throughput (10 services printing as fast as they can)"
    orco_rates, base_rates, lost, dropped = [], [], [], []
    for _ in range(ctx.args.log_runs):
        o = logs_orco(ctx, n, producers)
        orco_rates.append(o["rate"])
        lost.append(o["lost"])
        dropped.append(o["dropped_noted"])
        b = logs_baseline(ctx, n, producers)
        base_rates.append(b["rate"])
    res.add(scen, f"lines/s collected ({producers}×{n:,} lines)", "orco", orco_rates,
            "lines/s", lower_is_better=False)
    res.add(scen, f"lines/s collected ({producers}×{n:,} lines)",
            "baseline: straight to a file", base_rates, "lines/s", lower_is_better=False)
    res.add(scen, "lines lost (not in the log)", "orco", lost, "lines")
    res.add(scen, "lines lost and announced by a `dropped N lines` record", "orco", dropped,
            "lines")


# --------------------------------------------------------------------------------------------
# Scenario 5: churn


def churn(ctx, res):
    n = ctx.args.churn_services
    scen = f"5. Churn ({n} services: up, scale to 2 replicas, back to 1, down)"
    phases = {"up": [], "scale 1→2": [], "scale 2→1": [], "down": [], "total": []}
    peaks = []
    for _ in range(ctx.args.churn_runs):
        orco = Orco(ctx, "churn")
        stop = threading.Event()
        peak = [0]
        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], pss_kb(orco.pids()))
                stop.wait(0.1)
        try:
            orco.start()
            th = threading.Thread(target=sample, daemon=True)
            th.start()
            path = os.path.join(orco.dir, "stack.yaml")
            def write(replicas):
                with open(path, "w") as f:
                    f.write(stack_yaml("churn", [{"name": f"s{i}", "replicas": replicas,
                                                  "command": [ctx.fixture, "--sleep"]}
                                                 for i in range(n)]))
            t_start = now_ns()
            write(1)
            t = now_ns()
            orco.cli("up", "-d", "--wait", "-f", path, timeout=300)
            phases["up"].append((now_ns() - t) / 1e9)
            write(2)
            t = now_ns()
            orco.cli("up", "-d", "--wait", "-f", path, timeout=300)
            phases["scale 1→2"].append((now_ns() - t) / 1e9)
            write(1)
            t = now_ns()
            orco.cli("up", "-d", "--wait", "-f", path, timeout=300)
            # The apply returns once all wanted instances are ready; count the scale-down as
            # done when the surplus processes are gone too.
            kp = orco.keeper_pid()
            wait_until(lambda: len(descendants(kp)) <= n, 120, 0.01)
            phases["scale 2→1"].append((now_ns() - t) / 1e9)
            t = now_ns()
            orco.cli("down", "-f", path, timeout=300)
            wait_until(lambda: len(descendants(kp)) == 0, 120, 0.01)
            phases["down"].append((now_ns() - t) / 1e9)
            phases["total"].append((now_ns() - t_start) / 1e9)
        except Exception as e:
            log(f"churn: {e}")
        finally:
            stop.set()
            orco.close()
        peaks.append(peak[0] / 1024)
    for k, v in phases.items():
        res.add(scen, f"wall time, {k}", "orco", v, "s")
    res.add(scen, "peak PSS, daemon + keeper", "orco", peaks, "MB")


# --------------------------------------------------------------------------------------------
# Scenario 6: recovery and API


def recovery(ctx, res):
    scen = "6. Recovery and API"
    events = ctx.args.events
    orco = Orco(ctx, "recovery")
    try:
        seeded = subprocess.run([ctx.bench_bin, "seed", "--data-dir", orco.data, "--events",
                                 str(events), "--workdir", orco.dir], check=True,
                                stdout=subprocess.PIPE, timeout=600)
        log("seeded:", seeded.stdout.decode().strip())
        times = []
        for i in range(ctx.args.recovery_runs + 1):
            if orco.daemon is None:
                t0 = now_ns()
                orco.start()
                first = (now_ns() - t0) / 1e9
                res.notes.append(f"Recovery: the first start over the seeded log of "
                                 f"{events:,} events (closed cleanly) answered after "
                                 f"{first:.3f} s.")
                continue
            time.sleep(0.5)
            t0 = now_ns()
            orco.kill9()
            orco.start(timeout=60)
            times.append((now_ns() - t0) / 1e9)
        res.add(scen, f"kill -9 → API answering, {events:,} events in the log", "orco", times,
                "s", goal="< 1 s")
        # SIGTERM with nothing to drain (no client attached): the daemon exits, its
        # instances stay with the keeper. Timed from the signal to the process's end.
        stops = []
        for _ in range(ctx.args.recovery_runs):
            time.sleep(0.3)
            t0 = now_ns()
            orco.daemon.send_signal(signal.SIGTERM)
            orco.daemon.wait(timeout=30)
            stops.append((now_ns() - t0) / 1e9)
            orco.start(timeout=60)
        res.add(scen, f"SIGTERM → daemon exited, {events:,} events in the log", "orco", stops,
                "s", goal="< 1 s")
    finally:
        orco.close()

    # Throughput of GET /api/v1/workloads against a bare axum hello-world, same transport.
    sleep = shutil.which("sleep")
    orco = Orco(ctx, "api")
    hello_sock = os.path.join(ctx.work, "hello.sock")
    hello = None
    try:
        orco.start()
        path = os.path.join(orco.dir, "stack.yaml")
        with open(path, "w") as f:
            f.write(stack_yaml("api", [{"name": f"s{i}", "command": [sleep, "100000"]}
                                       for i in range(50)]))
        orco.cli("up", "-d", "--wait", "-f", path)
        hello = spawn([ctx.bench_bin, "hello", "--socket", hello_sock])
        wait_until(lambda: http_get(hello_sock, "/api/v1/workloads"), 10)
        rates = {"orco": [], "hello": []}
        lat = {"orco": [], "hello": []}
        for _ in range(ctx.args.api_runs):
            for name, sock in (("orco", orco.sock), ("hello", hello_sock)):
                out = subprocess.run([ctx.bench_bin, "load", "--socket", sock, "--path",
                                      "/api/v1/workloads", "--connections", "4", "--seconds",
                                      str(ctx.args.api_seconds)], check=True,
                                     stdout=subprocess.PIPE, timeout=120)
                r = json.loads(out.stdout)
                rates[name].append(r["rps"])
                lat[name].append(r["p50_us"])
        m = "GET /api/v1/workloads, 4 connections, unix socket"
        res.add(scen, m + " (50 workloads)", "orco", rates["orco"], "req/s",
                lower_is_better=False)
        res.add(scen, m + " (50 workloads)", "baseline: axum hello-world", rates["hello"],
                "req/s", lower_is_better=False)
        res.add(scen, "median request latency", "orco", lat["orco"], "µs")
        res.add(scen, "median request latency", "baseline: axum hello-world", lat["hello"],
                "µs")
    finally:
        stop_popen(hello)
        orco.close()


# --------------------------------------------------------------------------------------------
# Scenario 7: job DAG (peers only until orco runs jobs)


def job_dag(ctx, res):
    layers, width, jobs = ctx.args.dag_layers, 100, 100
    scen = (f"7. Job DAG ({layers * width:,} `true` tasks, {layers} layers of {width}, two "
            "dependencies each)")
    d = os.path.join(ctx.work, "dag")
    os.makedirs(d, exist_ok=True)
    mk, nj = [], ["rule t\n  command = true\n"]
    names = lambda l, i: f"t{l}_{i}"
    targets = []
    for l in range(layers):
        for i in range(width):
            deps = [] if l == 0 else [names(l - 1, i), names(l - 1, (i + 1) % width)]
            mk.append(f"{names(l, i)}: {' '.join(deps)}\n\t@true\n")
            nj.append(f"build {names(l, i)}: t" + (f" | {' '.join(deps)}" if deps else "") +
                      "\n")
            targets.append(names(l, i))
    mk.insert(0, ".PHONY: all " + " ".join(targets) + "\nall: " + " ".join(targets) + "\n")
    nj.append("build all: phony " + " ".join(targets) + "\ndefault all\n")
    with open(os.path.join(d, "Makefile"), "w") as f:
        f.write("".join(mk))
    with open(os.path.join(d, "build.ninja"), "w") as f:
        f.write("".join(nj))
    # The same DAG as one orco job: tasks run `true` with the same parallelism.
    job = [f"version: 0.1", "stack: {name: dag}", "jobs:", "  dag:",
           f"    parallelism: {jobs}", "    tasks:"]
    for l in range(layers):
        for i in range(width):
            deps = "" if l == 0 else (f", dependsOn: [{{target: {names(l - 1, i)}}}, "
                                      f"{{target: {names(l - 1, (i + 1) % width)}}}]")
            job.append(f"      {names(l, i)}: {{command: [\"true\"]{deps}}}")
    job_path = os.path.join(d, "stack.yaml")
    with open(job_path, "w") as f:
        f.write("\n".join(job) + "\n")
    times = {"orco": [], f"make -j{jobs}": [], f"ninja -j{jobs}": []}
    orco_why = None
    try:
        for _ in range(ctx.args.dag_runs):
            orco = Orco(ctx, "dag", extra=["--max-concurrent-tasks", str(jobs)])
            try:
                orco.start()
                t = now_ns()
                p = orco.cli("job", "submit", "--wait", job_path, check=False, timeout=900)
                if p.returncode == 0:
                    times["orco"].append((now_ns() - t) / 1e9)
                else:
                    orco_why = p.stderr.decode(errors="replace").strip()[-300:]
                    log(f"dag: orco job submit failed: {orco_why}")
            finally:
                orco.close()
            t = now_ns()
            subprocess.run(["make", "-s", f"-j{jobs}", "-C", d], check=True,
                           stdout=subprocess.DEVNULL, timeout=600)
            times[f"make -j{jobs}"].append((now_ns() - t) / 1e9)
            if shutil.which("ninja"):
                # ninja skips what it built before: phony-like outputs never exist, so every
                # task runs each time.
                t = now_ns()
                subprocess.run(["ninja", "-C", d, f"-j{jobs}"], check=True,
                               stdout=subprocess.DEVNULL, timeout=600)
                times[f"ninja -j{jobs}"].append((now_ns() - t) / 1e9)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    make = statistics.median(times[f"make -j{jobs}"]) if times[f"make -j{jobs}"] else None
    res.add(scen, "wall time", "orco", times["orco"], "s",
            goal="≤ 1.3 × make" if times["orco"] and make else None,
            limit=1.3 * make if make else None,
            note=f"`orco job submit --wait`, parallelism {jobs}, checkpoints in the event log")
    for k, v in times.items():
        if k != "orco":
            res.add(scen, "wall time", k, v, "s")
    if times["orco"] and make:
        ratio = statistics.median(times["orco"]) / make
        res.notes.append(f"Job DAG: orco takes {ratio:.2f}× make's wall time (goal ≤ 1.3×).")
    if not times["orco"]:
        res.skip("job DAG / orco", f"the job run failed: {orco_why}")


# --------------------------------------------------------------------------------------------
# Scenario 8: the scheduler (the pure function, no daemon)


def scheduler(ctx, res):
    scen = (f"8. Scheduler ({ctx.args.sched_nodes:,} simulated nodes, "
            f"{ctx.args.sched_instances:,} instances with mixed constraints; the pure function)")
    p = subprocess.run([ctx.bench_bin, "schedule", "--nodes", str(ctx.args.sched_nodes),
                        "--instances", str(ctx.args.sched_instances), "--runs",
                        str(ctx.args.sched_runs)], stdout=subprocess.PIPE, check=True,
                       timeout=600)
    out = json.loads(p.stdout)
    res.add(scen, "placements/s", "orco", out["per_second"], "placements/s",
            goal="≥ 50,000/s", lower_is_better=False, limit=50000,
            note=f"{out['placed']:,} of {out['instances']:,} placed")
    # Published end-to-end figures, for scale (not measured here).
    res.notes.append("Scheduler: published figures for comparison are end to end, not the "
                     "pure function: Nomad's C1M 3,750 placements/s, kube-scheduler 100–300 "
                     "pods/s.")
    p = subprocess.run([ctx.bench_bin, "pack", "--instances", str(ctx.args.sched_pack)],
                       stdout=subprocess.PIPE, check=True, timeout=600)
    out = json.loads(p.stdout)
    res.add(scen, f"nodes used packing {out['instances']:,} instances", "orco (strategy: pack)",
            [out["pack_nodes"]], "nodes")
    res.add(scen, f"nodes used packing {out['instances']:,} instances",
            "baseline: first-fit decreasing", [out["ffd_nodes"]], "nodes")
    res.add(scen, f"nodes used packing {out['instances']:,} instances",
            "baseline: lower bound (total requests / node size)", [out["lower_bound"]], "nodes")


# --------------------------------------------------------------------------------------------
# Scenario 9: validating a large stack file (the release binary, `orco validate`)


def big_stack_yaml(n):
    """The stack of the spec crate's limits test: n services of one command each."""
    lines = ["version: 0.1", "stack: {name: big}", "services:"]
    lines += [f'  s{i}: {{command: ["sleep", "1"]}}' for i in range(n)]
    return "\n".join(lines) + "\n"


def validate(ctx, res):
    n = ctx.args.validate_services
    scen = f"9. Validate a stack of {n:,} services (`orco validate`, the release binary)"
    path = os.path.join(ctx.work, "big-stack.yaml")
    with open(path, "w") as f:
        f.write(big_stack_yaml(n))
    walls, cpus = [], []
    for _ in range(ctx.args.validate_runs):
        before = os.times()
        t0 = now_ns()
        p = subprocess.run([ctx.orco, "validate", "-f", path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120)
        wall = (now_ns() - t0) / 1e9
        after = os.times()
        out = p.stdout.decode(errors="replace")
        if p.returncode != 0 or f"{n} services" not in out:
            raise RuntimeError(f"orco validate failed ({p.returncode}): "
                               + (out + p.stderr.decode(errors="replace"))[-300:])
        walls.append(wall)
        cpus.append((after.children_user - before.children_user)
                    + (after.children_system - before.children_system))
    res.add(scen, "wall time", "orco", walls, "s", goal="< 1 s", limit=1.0)
    res.add(scen, "CPU time (user + system)", "orco", cpus, "s",
            note="what the wall time would be on an idle machine")


# --------------------------------------------------------------------------------------------
# Scenario 10: node loss in a cluster (a server and agents on loopback)


def keeper_pid_of(keeper_dir):
    """The pid a keeper gives in its welcome (its own protocol: length, kind 1, JSON)."""
    body = json.dumps({"id": 0, "op": "hello", "version": 2}).encode()
    frame = struct.pack(">I", len(body) + 1) + b"\x01" + body
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(os.path.join(keeper_dir, "keeper.sock"))
        s.sendall(frame)
        data = s.recv(4096)
    m = re.search(rb'"pid":(\d+)', data)
    return int(m.group(1)) if m else None


def node_loss(ctx, res):
    """A server and 3 agents; 30 instances; a node is killed (agent, keeper and instances at
    once) or frozen (SIGSTOP of its agent), and the time until every slot runs on another
    node is measured. The lease is 3 s and the grace 1 s (the defaults); the services have no
    health probe, so running is ready (the bench assumes a service ready at start)."""
    scen = "10. Node loss (server + 3 agents on loopback, 30 instances; lease 3 s, grace 1 s)"
    work = os.path.join(ctx.work, "cluster")
    os.makedirs(work, exist_ok=True)
    port = free_ports(1)[0]
    sock = os.path.join(work, "server.sock")
    api_token = os.path.join(work, "api-token")
    with open(api_token, "w") as f:
        f.write("bench-api-token-0123456789")
    os.chmod(api_token, 0o600)
    env = dict(os.environ, ORCO_HOST=f"unix://{sock}", NO_COLOR="1")
    procs = []

    def orco(*args, check=True):
        p = subprocess.run([ctx.orco, *args], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        if check and p.returncode != 0:
            raise RuntimeError(f"orco {args}: {p.stderr.decode(errors='replace')[-300:]}")
        return p.stdout.decode()

    server = spawn([ctx.orco, "server", "--data-dir", os.path.join(work, "server"),
                    "--socket", sock, "--listen", f"127.0.0.1:{port}", "--token-file",
                    api_token])
    procs.append(server)
    agents = {}
    try:
        if not wait_until(lambda: orco("cluster", "health", check=False) != "", 30):
            raise RuntimeError("the server did not answer")
        token_file = os.path.join(work, "join-token")
        with open(token_file, "w") as f:
            f.write(orco("cluster", "token", "create", "--reusable").strip())
        os.chmod(token_file, 0o600)

        def start_agent(name):
            data = os.path.join(work, name)
            p = spawn([ctx.orco, "agent", "--join", f"https://127.0.0.1:{port}",
                       "--token-file", token_file, "--node", name, "--data-dir", data,
                       "--capacity", "cpu=8,memory=16Gi"])
            procs.append(p)
            agents[name] = (p, data)

        def nodes_ready():
            items = json.loads(orco("node", "list", "-o", "json"))["items"]
            return {n["name"] for n in items if n["status"] == "ready"}

        def running():
            items = json.loads(orco("ps", "-o", "json"))["items"]
            return [(i["id"], i.get("node"), i.get("pid")) for i in items
                    if i["phase"] == "running"]

        for name in ("n1", "n2", "n3"):
            start_agent(name)
        if not wait_until(lambda: {"n1", "n2", "n3"} <= nodes_ready(), 30, 0.05):
            raise RuntimeError("the agents did not join")
        stack = os.path.join(work, "fleet.yaml")
        with open(stack, "w") as f:
            f.write("version: 0.1\nstack: {name: fleet}\nservices:\n"
                    "  web: {command: [sleep, '3600'], replicas: 30}\n")
        orco("apply", "-f", stack)
        if not wait_until(lambda: len(running()) == 30, 60, 0.05):
            raise RuntimeError("the 30 instances did not start")
        results = {"crash": [], "hang": []}
        serial = 0
        for round_ in range(ctx.args.node_loss_runs * 2):
            kind = "crash" if round_ % 2 == 0 else "hang"
            run = running()
            counts = {}
            for _, node, _ in run:
                counts[node] = counts.get(node, 0) + 1
            victim = max(counts, key=lambda n: (counts[n], n))
            moved = counts[victim]
            p, data = agents.pop(victim)
            pids = [pid for _, node, pid in run if node == victim and pid]
            keeper = keeper_pid_of(os.path.join(data, "keeper"))
            t0 = time.monotonic()
            if kind == "crash":
                kill_group(p.pid)
                for pid in ([keeper] if keeper else []) + pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            else:
                os.kill(p.pid, signal.SIGSTOP)

            def moved_off():
                r = running()
                return len(r) == 30 and all(node != victim for _, node, _ in r)
            if not wait_until(moved_off, 60, 0.05):
                raise RuntimeError(f"{victim}'s instances did not come back elsewhere")
            results[kind].append(time.monotonic() - t0)
            log(f"node loss ({kind}): {moved} instances of {victim} ready elsewhere in "
                f"{results[kind][-1]:.2f} s")
            if kind == "hang":
                os.kill(p.pid, signal.SIGCONT)
            stop_popen(p)
            kp = keeper_pid_of(os.path.join(data, "keeper")) if kind == "hang" else None
            if kp:
                try:
                    os.kill(kp, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            serial += 1
            start_agent(f"m{serial}")
            if not wait_until(lambda: f"m{serial}" in nodes_ready(), 30, 0.05):
                raise RuntimeError("a new agent did not join")
        published = ("Published for comparison (defaults, not measured here): Kubernetes "
                     "~5 min 50 s (node-monitor-grace 40 s + eviction 5 min), Nomad ~30 s, "
                     "Swarm ~20 s.")
        res.add(scen, "node crash → its instances running elsewhere", "orco",
                results["crash"], "s", goal="≤ 5 s", limit=5.0, note=published)
        res.add(scen, "hung agent (SIGSTOP) → its instances running elsewhere", "orco",
                results["hang"], "s", goal="≤ 5 s", limit=5.0,
                note="the node's keeper kills them at the lease's end, before the server "
                     "places them elsewhere")
    finally:
        for p, data in agents.values():
            try:
                os.kill(p.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        for p in procs:
            stop_popen(p)
        for name in os.listdir(work):
            keeper_dir = os.path.join(work, name, "keeper")
            if os.path.exists(os.path.join(keeper_dir, "keeper.sock")):
                subprocess.run([ctx.bench_bin, "keeper-stop", "--dir", keeper_dir],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               timeout=30)


# --------------------------------------------------------------------------------------------
# Docker


def docker_rm_label():
    out = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=orco-bench={RUN}"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=60)
    ids = out.stdout.decode().split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=120)


def docker_setup(ctx):
    if not shutil.which("docker"):
        return None, "docker is not installed"
    p = subprocess.run(["docker", "info"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=30)
    if p.returncode != 0:
        return None, "the docker engine does not answer (`docker info`: " + \
            p.stderr.decode(errors="replace").strip().splitlines()[-1][:200] + ")"
    image = "orco-bench-busybox:1"
    p = subprocess.run(["docker", "image", "inspect", image], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    if p.returncode != 0:
        busybox = shutil.which("busybox")
        if not busybox:
            return None, "busybox-static is not installed (needed for the local image)"
        root = tempfile.mkdtemp(dir=ctx.work)
        os.makedirs(os.path.join(root, "bin"))
        os.makedirs(os.path.join(root, "tmp"))
        shutil.copy(busybox, os.path.join(root, "bin", "busybox"))
        subprocess.run([os.path.join(root, "bin", "busybox"), "--install", "-s",
                        os.path.join(root, "bin")], check=True)
        # --install -s links to the absolute path of the copy: point them inside the image.
        for name in os.listdir(os.path.join(root, "bin")):
            p = os.path.join(root, "bin", name)
            if os.path.islink(p):
                os.unlink(p)
                os.symlink("busybox", p)
        tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        p = subprocess.run(["docker", "import", "--change", "LABEL orco-bench-image=1", "-",
                            image], stdin=tar.stdout, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, timeout=120)
        tar.wait()
        shutil.rmtree(root, ignore_errors=True)
        if p.returncode != 0:
            return None, "docker import of the busybox image failed: " + \
                p.stderr.decode(errors="replace")[-200:]
    return image, None


# --------------------------------------------------------------------------------------------


class Ctx:
    pass


SCENARIOS = {"respawn": respawn, "ready": ready, "footprint": footprint, "logs": logs,
             "churn": churn, "recovery": recovery, "dag": job_dag,
             "scheduler": scheduler, "validate": validate, "node-loss": node_loss}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--orco", required=True)
    ap.add_argument("--fixture", required=True)
    ap.add_argument("--bench-bin", required=True)
    ap.add_argument("--supervisord", default=None)
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    ap.add_argument("--no-docker", action="store_true")
    ap.add_argument("--respawn-tries", type=int, default=20)
    ap.add_argument("--docker-respawn-tries", type=int, default=6)
    ap.add_argument("--ready-runs", type=int, default=5)
    ap.add_argument("--compose-runs", type=int, default=1)
    ap.add_argument("--idle-seconds", type=float, default=30)
    ap.add_argument("--log-lines", type=int, default=30000)
    ap.add_argument("--log-runs", type=int, default=3)
    ap.add_argument("--churn-services", type=int, default=200)
    ap.add_argument("--churn-runs", type=int, default=2)
    ap.add_argument("--events", type=int, default=100000)
    ap.add_argument("--recovery-runs", type=int, default=5)
    ap.add_argument("--api-runs", type=int, default=3)
    ap.add_argument("--api-seconds", type=float, default=3)
    ap.add_argument("--dag-runs", type=int, default=1)
    ap.add_argument("--dag-layers", type=int, default=100,
                    help="layers of 100 tasks (default 100: the 10,000 tasks of DESIGN.md §4)")
    ap.add_argument("--sched-nodes", type=int, default=5000)
    ap.add_argument("--sched-instances", type=int, default=100000)
    ap.add_argument("--sched-runs", type=int, default=5)
    ap.add_argument("--sched-pack", type=int, default=5000,
                    help="instances of random size packed on identical nodes")
    ap.add_argument("--validate-services", type=int, default=20000,
                    help="services of the stack `orco validate` reads (default: the limit)")
    ap.add_argument("--validate-runs", type=int, default=5)
    ap.add_argument("--node-loss-runs", type=int, default=5,
                    help="node crashes and agent hangs, each")
    args = ap.parse_args()

    ctx = Ctx()
    ctx.args = args
    ctx.orco, ctx.fixture, ctx.bench_bin = args.orco, args.fixture, args.bench_bin
    ctx.work = tempfile.mkdtemp(prefix="orco-bench-")
    ctx.supervisord = args.supervisord if args.supervisord and os.path.exists(
        args.supervisord) else None
    ctx.supervisord_why = "supervisord is not installed (pip install into the venv failed)"
    res = Results()
    only = args.only.split(",")
    ctx.docker, ctx.image = False, None
    if args.no_docker:
        ctx.docker_why = "--no-docker was given"
    elif any(s in only for s in ("respawn", "ready")):
        ctx.image, ctx.docker_why = docker_setup(ctx)
        ctx.docker = ctx.image is not None
    commit = os.environ.get("ORCO_BENCH_COMMIT") or subprocess.run(
        ["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL).stdout.decode()
    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "cpus": os.cpu_count(), "kernel": os.uname().release,
            "orco_commit": commit.strip() or "unknown", "loadavg_start": loadavg(),
            "args": vars(args)}
    started = time.monotonic()
    try:
        for name in only:
            t = time.monotonic()
            log(f"== {name}")
            try:
                SCENARIOS[name](ctx, res)
            except Exception as e:
                log(f"{name} failed: {e!r}")
                res.skip(f"scenario {name}", f"failed: {e}")
            log(f"== {name} took {time.monotonic() - t:.0f} s")
    finally:
        if ctx.docker:
            docker_rm_label()
        shutil.rmtree(ctx.work, ignore_errors=True)
        meta["loadavg_end"] = loadavg()
        meta["seconds"] = round(time.monotonic() - started)
        write_report(res, meta, args.out)
        log(f"wrote {args.out}/LATEST.md and LATEST.json in {meta['seconds']} s")


if __name__ == "__main__":
    main()
