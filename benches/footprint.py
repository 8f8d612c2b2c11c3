#!/usr/bin/env python3
"""Measurement helpers for benches/footprint.sh (standard library only).

  stats FILE LABEL [NOTE]     summarise rusage lines (wall_us utime_us stime_us maxrss_kib status)
  proxy ...                   loopback TCP proxy that logs every chunk it forwards
  rss PID SECONDS             sample /proc/PID/status every second
  mem PID LABEL               VmRSS, VmHWM and threads now
  stable BEFORE AFTER SECONDS would each report be republished (two `collect` outputs)?
  usage-row                   days in the usage report on stdin, and the size of a day's row
  cputime PID                 "ticks ns": utime+stime from /proc/PID/stat, and the sum of
                              the threads' schedstat run time (ns, a finer cross-check)
  refresh-cpu EVENTS          CPU per refresh cycle, from the ticks/ns recorded around each
  wire ...                    bytes on the wire: components and a day at the default schedule

The proxy sees what TCP carries: TLS records (MQTT inside, encrypted). It cannot read MQTT,
so components are told apart by time windows (footprint.sh records them) and by running
one agent per component; report sizes come from the agent's log and the MQTT/TLS framing,
checked against the bytes measured around each refresh.
"""

import argparse
import asyncio
import glob
import json
import math
import os
import re
import signal
import statistics
import sys
import time

MIB = 1024 * 1024
# Per TCP segment: IPv4 (20) + TCP with the timestamp option (32). IPv6 adds 20.
TCPIP_HEADER = 52
# Payload per segment on a 1500-byte MTU path with those headers.
MSS = 1500 - TCPIP_HEADER
# A TLS 1.3 application-data record: 5-byte header + 1 byte inner content type + 16-byte
# AEAD tag (AES-GCM and ChaCha20-Poly1305 alike); at most 16 KiB of plaintext each.
TLS_RECORD_OVERHEAD = 22
TLS_MAX_PLAINTEXT = 16384
# MQTT 3.1.1 PUBACK: fixed header (2) + packet id (2).
PUBACK = 4


# ---------------------------------------------------------------- process measurements


def cmd_stats(args):
    rows = []
    with open(args.file) as f:
        for line in f:
            wall, utime, stime, maxrss, status = map(int, line.split())
            rows.append((wall, utime + stime, maxrss, status))
    if not rows:
        print(f"  {args.label:<28} no runs")
        return
    failed = sum(1 for r in rows if r[3] != 0)
    wall = [r[0] / 1000 for r in rows]
    cpu = [r[1] / 1000 for r in rows]
    rss = max(r[2] for r in rows) / 1024
    line = (
        f"  {args.label:<28} {len(rows):>4}  {statistics.median(wall):>8.1f}  {max(wall):>8.1f}"
        f"  {statistics.median(cpu):>8.1f}  {rss:>8.2f}"
    )
    if failed:
        line += f"  ({failed} run(s) exited non-zero)"
    if args.note:
        line += f"  {args.note}"
    print(line)


def read_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def kib(value):
    return int(value.split()[0])


def cmd_rss(args):
    """VmRSS once a second; then VmHWM, threads and what the resident pages are."""
    samples = []
    start = time.monotonic()
    cpu0 = cputime(args.pid)[1]
    while time.monotonic() < start + args.seconds:
        samples.append(kib(read_status(args.pid)["VmRSS"]))
        time.sleep(1)
    idle_ms = (cputime(args.pid)[1] - cpu0) / 1e6
    st = read_status(args.pid)
    mib = lambda k: f"{k / 1024:.2f} MiB"  # noqa: E731
    print(
        f"  RSS between cycles ({len(samples)} samples, 1/s): min {mib(min(samples))}, "
        f"median {mib(statistics.median(samples))}, max {mib(max(samples))}"
        f"   [target < 8 MiB; thin-edge.io's agent sits near 8 MiB]"
    )
    print(
        f"  of which (last sample): anonymous {mib(kib(st['RssAnon']))} (heap, stacks), "
        f"file-backed {mib(kib(st['RssFile']))} (the binary and libc pages in use), "
        f"shared memory {mib(kib(st['RssShmem']))}"
    )
    print(f"  VmHWM (peak RSS since start, incl. the first full cycle): {mib(kib(st['VmHWM']))}")
    print(f"  threads: {st['Threads']}")
    print(f"  CPU while idle: {idle_ms:.2f} ms over {time.monotonic() - start:.0f} s (scheduler run time)")


def cputime(pid):
    with open(f"/proc/{pid}/stat") as f:
        # Fields after the command name (which may hold spaces) start at field 3.
        rest = f.read().rsplit(")", 1)[1].split()
    ticks = int(rest[11]) + int(rest[12])  # utime, stime (fields 14 and 15)
    ns = 0
    for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            with open(path) as f:
                ns += int(f.read().split()[0])
        except OSError:
            pass  # a thread that just ended
    return ticks, ns


def cmd_cputime(args):
    print(*cputime(args.pid))


def cmd_refresh_cpu(args):
    hz = os.sysconf("SC_CLK_TCK")
    ticks, ns, refused = [], [], 0
    for ev in read_events(args.events):
        if ev[0] == "refresh":
            t0, t1, k0, k1, n0, n1, ok = ev[1:8]
            if ok != "true":
                refused += 1
                continue
            ticks.append((int(k1) - int(k0)) * 1000 / hz)
            ns.append((int(n1) - int(n0)) / 1e6)
    if not ticks:
        print("  CPU per full cycle: no refresh was answered")
        return
    print(
        f"  CPU per full cycle ({len(ticks)} refreshes): median {statistics.median(ticks):.0f} ms "
        f"(utime+stime from /proc/PID/stat, {1000 // hz} ms ticks: "
        + ", ".join(f"{t:.0f}" for t in ticks)
        + f"); scheduler run time median {statistics.median(ns):.1f} ms"
        + (f"; {refused} refresh(es) refused" if refused else "")
    )


# ---------------------------------------------------------------- the byte-counting proxy


def cmd_proxy(args):
    """Forwards 127.0.0.1:(free port) to 127.0.0.1:UPSTREAM, logging "time conn dir bytes"
    for every chunk read (dir: open, up = agent to broker, down, close). SIGUSR1 cuts every
    open connection (the agent then reconnects: a clean connection-setup sample)."""
    log = open(args.log, "a", buffering=1)
    conns = {}
    counter = [0]

    def note(conn, direction, n):
        log.write(f"{time.time():.6f} {conn} {direction} {n}\n")

    async def pipe(reader, writer, conn, direction):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                note(conn, direction, len(data))
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def handle(client_r, client_w):
        conn = counter[0]
        counter[0] += 1
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", args.upstream)
        except OSError:
            client_w.close()
            return
        conns[conn] = (client_w, up_w)
        note(conn, "open", 0)
        try:
            await asyncio.gather(pipe(client_r, up_w, conn, "up"), pipe(up_r, client_w, conn, "down"))
        except asyncio.CancelledError:
            pass  # the proxy is stopping
        conns.pop(conn, None)
        note(conn, "close", 0)

    def cut_all():
        for client_w, up_w in list(conns.values()):
            client_w.transport.abort()
            up_w.transport.abort()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        with open(args.port_file + ".tmp", "w") as f:
            f.write(f"{port}\n")
        os.rename(args.port_file + ".tmp", args.port_file)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR1, cut_all)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        await stop.wait()
        server.close()
        cut_all()

    asyncio.run(main())


# ---------------------------------------------------------------- bytes on the wire


def read_events(path):
    with open(path) as f:
        return [line.split() for line in f if line.strip()]


def read_chunks(path):
    """[(t, conn, dir, n)] from a proxy log."""
    chunks = []
    with open(path) as f:
        for line in f:
            t, conn, direction, n = line.split()
            chunks.append((float(t), int(conn), direction, int(n)))
    return chunks


def segments(flights):
    """TCP segments for these flights (bytes written at once): data segments at MSS, plus
    one pure ACK per two data segments (Linux delayed ACK; answers carry the ACK of the
    question, the last flight of an exchange is acked alone): an estimate, not a capture."""
    data = sum(max(1, math.ceil(n / MSS)) for n in flights if n > 0)
    return data + max(1, math.ceil(data / 2))


def varint_len(n):
    return 1 if n < 128 else 2 if n < 16384 else 3 if n < 2097152 else 4


def mqtt_publish(topic, payload_len, qos1=True):
    remaining = 2 + len(topic.encode()) + (2 if qos1 else 0) + payload_len
    return 1 + varint_len(remaining) + remaining


def tls(plaintext_len):
    return plaintext_len + TLS_RECORD_OVERHEAD * max(1, math.ceil(plaintext_len / TLS_MAX_PLAINTEXT))


class Component:
    def __init__(self, name, up, down, flights, per_day, how):
        self.name, self.up, self.down = name, up, down
        self.flights, self.per_day, self.how = flights, per_day, how

    @property
    def each(self):
        return self.up + self.down

    @property
    def overhead_each(self):
        return segments(self.flights) * TCPIP_HEADER


def exchanges(chunks, t0, t1, conn=None):
    """Chunks of one connection in [t0, t1], grouped into exchanges: each exchange starts
    with an agent-to-broker chunk (heartbeat publish, PINGREQ) and holds the answers."""
    picked = [c for c in chunks if t0 <= c[0] <= t1 and c[2] in ("up", "down")]
    if conn is not None:
        picked = [c for c in picked if c[1] == conn]
    groups = []
    for c in picked:
        if c[2] == "up" and (not groups or groups[-1][-1][2] == "down"):
            groups.append([])
        if groups:
            groups[-1].append(c)
    return groups


def measured_periodic(name, chunks, t0, t1, per_day, how):
    groups = exchanges(chunks, t0, t1)
    if not groups:
        return None, 0
    up = sum(c[3] for g in groups for c in g if c[2] == "up") / len(groups)
    down = sum(c[3] for g in groups for c in g if c[2] == "down") / len(groups)
    # The flights of a typical exchange: each chunk of the median-sized exchange.
    typical = sorted(groups, key=lambda g: sum(c[3] for c in g))[len(groups) // 2]
    flights = [c[3] for c in typical]
    return Component(name, up, down, flights, per_day, how), len(groups)


def cmd_wire(args):
    events = read_events(args.events)
    ev = {e[0]: e[1:] for e in events}
    a, h, k = read_chunks(args.log_service), read_chunks(args.log_heartbeat), read_chunks(args.log_keepalive)
    settled, windows_end = float(ev["settled"][0]), float(ev["windows_end"][0])
    # All devices have 32-hex-digit ids, so every agent's topics have this length.
    prefix = f"grappe/v1/{args.grappe}/{args.structure}/{args.device}/"
    period = time.strftime("%Y-%m", time.gmtime())
    comps = []

    def report_topic(kind):
        return prefix + (f"usage/{period}" if kind == "usage" else kind)

    # Report payload sizes, from the service agent's log: its first cycle (first line of
    # each kind) and its last refresh (last line of each kind).
    first_sizes, sizes = {}, {}
    with open(args.agent_log) as f:
        for line in f:
            m = re.search(r"(\w+) report #\d+ spooled \((\d+) bytes", line)
            if m:
                first_sizes.setdefault(m.group(1), int(m.group(2)))
                sizes[m.group(1)] = int(m.group(2))

    # Connection setup with a full handshake: the service agent's first connection, from
    # its start to "settled", carries the setup and then the first cycle's reports. The
    # setup always comes first on the wire (status and SUBSCRIBE are queued before the
    # spool is pumped), so it is that connection's bytes minus its reports (framing model,
    # checked against the refreshes below), and its flights are that prefix of the chunks.
    first = [c for c in a if c[1] == 0 and c[2] in ("up", "down") and c[0] <= settled]
    setup_up = sum(c[3] for c in first if c[2] == "up") - sum(
        tls(mqtt_publish(report_topic(kind), n)) for kind, n in first_sizes.items()
    )
    setup_down = sum(c[3] for c in first if c[2] == "down") - len(first_sizes) * tls(PUBACK)
    left = {"up": setup_up, "down": setup_down}
    flights = []
    for c in first:
        take = min(c[3], left[c[2]])
        if take > 0:
            flights.append(take)
            left[c[2]] -= take
    setup = Component(
        "connection setup", setup_up, setup_down, flights, 1,
        "measured: first connection minus its reports; TLS 1.3 full handshake with client "
        "certificate, session tickets, CONNECT (with will)/CONNACK, status+PUBACK, SUBSCRIBE/SUBACK",
    )
    setup.tcp_handshake = 3  # SYN, SYN/ACK, ACK
    comps.append(setup)

    hb, n_hb = measured_periodic(
        "heartbeat + PUBACK", h, settled, windows_end, 86400 // args.heartbeat_s,
        "measured: agent with heartbeat = 10s",
    )
    if hb:
        hb.how += f", {n_hb} heartbeats"
        comps.append(hb)
    ka, n_ka = measured_periodic(
        "keepalive PINGREQ+PINGRESP", k, settled, windows_end, 86400 // args.keep_alive_s,
        "measured: agent with keep_alive = 10s",
    )
    if ka:
        ka.how += f", {n_ka} pings"
        comps.append(ka)

    # Reports, sized from the last refresh: one MQTT 3.1.1 QoS 1 PUBLISH in one TLS record
    # each (rumqttc flushes every request on its own), and the PUBACK back.
    per_day = {"usage": 86400 // args.usage_s, "inventory": 1, "posture": 1, "patches": 1}
    reports = {}
    for kind in ("inventory", "posture", "patches", "usage"):
        if kind not in sizes:
            print(f"  {kind}: never published in this run (collector failed?): not counted")
            continue
        publish = tls(mqtt_publish(report_topic(kind), sizes[kind]))
        reports[kind] = Component(
            f"{kind} report + PUBACK", publish, tls(PUBACK),
            [publish, tls(PUBACK)], per_day[kind],
            f"payload {sizes[kind]} B (agent log) + MQTT/TLS framing",
        )
        comps.append(reports[kind])
    report_bytes = sum(r.each for r in reports.values())

    # The framing model against the bytes measured around each refresh (command in + its
    # PUBACK, the four reports, cmd-result + its PUBACK).
    totals = [
        sum(c[3] for c in a if float(e[1]) <= c[0] <= float(e[2]) and c[2] in ("up", "down"))
        for e in events
        if e[0] == "refresh" and e[7] == "true"
    ]
    if totals:
        cmd_in = tls(mqtt_publish(prefix + "cmd/refresh", args.cmd_payload))
        cmd_out = tls(mqtt_publish(prefix + "cmd-result", args.cmd_result_payload))
        model = report_bytes + cmd_in + cmd_out + 2 * tls(PUBACK)
        measured = statistics.median(totals)
        print(
            f"  check of the framing model: a refresh measured {measured:.0f} B on the wire (median of "
            f"{len(totals)}); model {model} B (reports {report_bytes}, command and answer "
            f"{model - report_bytes}): {100 * (measured - model) / model:+.1f}%"
        )

    print()
    print(
        f"  {'component':<28} {'up B':>6} {'down B':>6} {'each B':>6} {'per day':>7} "
        f"{'KiB/day':>7} {'TCP/IP est.':>12}"
    )
    total = total_oh = 0
    for c in comps:
        day = c.each * c.per_day
        oh_segments = segments(c.flights) + getattr(c, "tcp_handshake", 0)
        oh = oh_segments * TCPIP_HEADER * c.per_day
        total += day
        total_oh += oh
        print(
            f"  {c.name:<28} {c.up:>6.0f} {c.down:>6.0f} {c.each:>6.0f} {c.per_day:>7} "
            f"{day / 1024:>7.1f} {oh / 1024:>8.1f} KiB  ({oh_segments} seg. each; {c.how})"
        )
    print(f"  {'total, TLS records (what TCP carries)':<58} {total / 1024:>7.1f} KiB/day  [target < 100 KiB/day]")
    print(
        f"  {'total with TCP/IP headers (estimate)':<58} {(total + total_oh) / 1024:>7.1f} KiB/day  "
        f"(+{total_oh / 1024:.1f}: {TCPIP_HEADER} B per segment, IPv4 + TCP with timestamps; MSS {MSS}; "
        f"one pure ACK per 2 data segments; 3 for the TCP handshake)"
    )
    biggest = max(comps, key=lambda c: c.each * c.per_day)
    share = 100 * biggest.each * biggest.per_day / total
    verdict = "meets" if total + total_oh < 100 * 1024 else "MISSES"
    print(f"  -> {verdict} the target; the largest share is {biggest.name} ({share:.0f}% of the TLS bytes)")

    # Where the bytes go.
    if hb:
        topic = len((prefix + "heartbeat").encode())
        mqtt = mqtt_publish(prefix + "heartbeat", 0) - topic
        payload = hb.up - TLS_RECORD_OVERHEAD - mqtt - topic
        print(
            f"  heartbeat publish {hb.up:.0f} B = payload ~{payload:.0f} B + topic {topic} B + MQTT header "
            f"{mqtt} B + TLS record {TLS_RECORD_OVERHEAD} B; then the PUBACK, {hb.down:.0f} B"
        )
    print(
        "  keepalive: rumqttc sends a PINGREQ every keep_alive whatever else it sent "
        "(rumqttc 0.25 eventloop.rs), so pings come on top of heartbeats"
    )
    # The usage report carries the month so far, one row per day: it grows through the month.
    if "usage" in reports and args.usage_row_bytes:
        u = reports["usage"]
        grown = sizes["usage"] + (31 - args.usage_days) * args.usage_row_bytes
        each31 = tls(mqtt_publish(report_topic("usage"), grown)) + tls(PUBACK)
        extra = (each31 - u.each) * u.per_day
        print(
            f"  usage holds the month so far ({args.usage_days} day row(s) today, ~{args.usage_row_bytes} B per "
            f"row) and goes out {u.per_day} times a day: on day 31 it is ~{each31} B and the day "
            f"~{(total + extra) / 1024:.1f} KiB (+{extra / 1024:.1f}), ~{(total + total_oh + extra) / 1024:.1f} "
            f"KiB with TCP/IP"
        )
    # Not in the day: a reconnection, as after a 4G drop (the proxy cut the connection).
    r0, r1 = float(ev["reconnect"][0]), float(ev["reconnect"][1])
    opened = [c[1] for c in a if c[2] == "open" and r0 <= c[0] <= r1]
    if opened:
        mine = [c for c in a if c[1] == opened[0] and c[2] in ("up", "down") and c[0] <= r1]
        up = sum(c[3] for c in mine if c[2] == "up")
        down = sum(c[3] for c in mine if c[2] == "down")
        oh = (segments([c[3] for c in mine]) + 3) * TCPIP_HEADER
        print(
            f"  not in the day: each reconnection (e.g. after a 4G drop) costs {up} B up + {down} B down "
            f"(+~{oh} B TCP/IP): rustls resumes the TLS session with a ticket (no certificates), "
            f"then CONNECT, status, SUBSCRIBE"
        )
    else:
        print("  reconnection: the agent did not reconnect within the window (not measured)")


def cmd_mem(args):
    st = read_status(args.pid)
    print(
        f"  {args.label}: VmRSS {kib(st['VmRSS']) / 1024:.2f} MiB, "
        f"VmHWM (peak since start) {kib(st['VmHWM']) / 1024:.2f} MiB, threads {st['Threads']}"
    )


# Top-level `data` keys left out of the change fingerprint (src/state.rs VOLATILE_KEYS).
VOLATILE_KEYS = ("uptime_s", "package_lists_age_s")


def cmd_stable(args):
    """Whether each report would be republished after SECONDS: compares two `collect`
    outputs as the agent's change detection does (data without the volatile keys)."""
    with open(args.before) as f:
        before = json.load(f)
    with open(args.after) as f:
        after = json.load(f)
    for kind in ("inventory", "posture", "patches"):
        if kind not in before or kind not in after:
            continue
        a, b = dict(before[kind]["data"]), dict(after[kind]["data"])
        for key in VOLATILE_KEYS:
            a.pop(key, None)
            b.pop(key, None)
        changed = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        verdict = "unchanged" if not changed else "CHANGED (" + ", ".join(changed) + ")"
        print(f"  {kind} over {args.seconds:.0f} s: {verdict}")


def cmd_usage_row(args):
    """From `collect --only usage` on stdin: "DAYS ROW_BYTES", a full day's row (24 h up,
    12 h active) as the agent serialises it, plus its comma."""
    days = json.load(sys.stdin)["data"].get("days") or []
    if not days:
        print(0, 0)
        return
    row = dict(days[-1])
    for key, value in (("uptime_s", 86400), ("active_s", 43200)):
        if key in row:
            row[key] = value
    print(len(days), len(json.dumps(row, separators=(",", ":"))) + 1)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("stats")
    s.add_argument("file")
    s.add_argument("label")
    s.add_argument("note", nargs="?", default="")
    s.set_defaults(func=cmd_stats)
    s = sub.add_parser("rss")
    s.add_argument("pid", type=int)
    s.add_argument("seconds", type=float)
    s.set_defaults(func=cmd_rss)
    s = sub.add_parser("cputime")
    s.add_argument("pid", type=int)
    s.set_defaults(func=cmd_cputime)
    s = sub.add_parser("refresh-cpu")
    s.add_argument("events")
    s.set_defaults(func=cmd_refresh_cpu)
    s = sub.add_parser("mem")
    s.add_argument("pid", type=int)
    s.add_argument("label")
    s.set_defaults(func=cmd_mem)
    s = sub.add_parser("stable")
    s.add_argument("before")
    s.add_argument("after")
    s.add_argument("seconds", type=float)
    s.set_defaults(func=cmd_stable)
    s = sub.add_parser("usage-row")
    s.set_defaults(func=cmd_usage_row)
    s = sub.add_parser("proxy")
    s.add_argument("--upstream", type=int, required=True)
    s.add_argument("--port-file", required=True)
    s.add_argument("--log", required=True)
    s.set_defaults(func=cmd_proxy)
    s = sub.add_parser("wire")
    for name in ("events", "log-service", "log-heartbeat", "log-keepalive", "agent-log", "grappe", "structure", "device"):
        s.add_argument(f"--{name}", required=True)
    for name, default in (("heartbeat-s", 300), ("keep-alive-s", 900), ("usage-s", 21600),
                          ("cmd-payload", 0), ("cmd-result-payload", 0), ("usage-row-bytes", 0), ("usage-days", 1)):
        s.add_argument(f"--{name}", type=int, default=default)
    s.set_defaults(func=cmd_wire)
    args = p.parse_args()
    args.func(args)


if __name__ == "__main__":
    sys.exit(main())
