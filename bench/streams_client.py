#!/usr/bin/env python3
"""Holds N live event streams in ONE process (asyncio, raw HTTP/1.1) and counts what they get.

    bench/streams_client.py BASE_URL SESSIONS_FILE STATS_FILE

One `GET /api/v1/chat/events/?session_id=` per session of SESSIONS_FILE (one uuid a line),
reconnecting with `Last-Event-ID` when the server ends a stream. On SIGTERM it waits until no
event arrived for 1 s, then writes one JSON line to STATS_FILE: streams, events received,
distinct ids, duplicates, ids out of order within a stream, reconnects. Used by
bench/chat_post_streams.sh (variant `streams100`) so that 100 streams cost one client process
instead of 100 curl processes.
"""
import asyncio
import json
import os
import signal
import sys
import time
from urllib.parse import urlsplit

base, sessions_file, stats_file = sys.argv[1:4]
u = urlsplit(base)
HOST, PORT = u.hostname, u.port or 80
sessions = [s.strip() for s in open(sessions_file) if s.strip()]
seen = {s: set() for s in sessions}
stats = {"streams": len(sessions), "events": 0, "duplicates": 0, "out_of_order": 0,
         "reconnects": 0, "open": 0}
last_event = [time.monotonic()]
# Every stream starts at id 0 (Last-Event-ID: 0; each round uses a fresh database), so a message
# stored before a stream has read its starting point ("now") is still counted: the server counts
# a stream as open before that read, so "100 open" does not mean "100 started". STREAMS_FROM_START=0
# starts them at "now" (then the first messages of a session may precede its stream).
FROM_START = None if os.environ.get("STREAMS_FROM_START") == "0" else 0


async def follow(session):
    last_id = FROM_START
    first = True
    while True:
        try:
            reader, writer = await asyncio.open_connection(HOST, PORT)
        except OSError:
            await asyncio.sleep(0.2)
            continue
        if not first:
            stats["reconnects"] += 1
        first = False
        head = f"GET /api/v1/chat/events/?session_id={session} HTTP/1.1\r\nHost: {HOST}\r\n" \
               "Accept: text/event-stream\r\n"
        if last_id is not None:
            head += f"Last-Event-ID: {last_id}\r\n"
        writer.write((head + "\r\n").encode())
        await writer.drain()
        status = await reader.readline()
        if b" 200 " not in status:
            print(f"stream {session}: {status!r}", file=sys.stderr)
            writer.close()
            await asyncio.sleep(0.5)
            continue
        chunked = False
        while True:  # headers
            line = await reader.readline()
            if line.lower().startswith(b"transfer-encoding:") and b"chunked" in line.lower():
                chunked = True
            if line in (b"\r\n", b""):
                break
        stats["open"] += 1
        buf = b""
        try:
            while True:
                if chunked:
                    size_line = await reader.readline()
                    if not size_line:
                        break
                    size = int(size_line.strip() or b"0", 16)
                    if size == 0:
                        break
                    data = await reader.readexactly(size + 2)
                    buf += data[:-2]
                else:
                    data = await reader.read(65536)
                    if not data:
                        break
                    buf += data
                while b"\n\n" in buf:
                    frame, buf = buf.split(b"\n\n", 1)
                    ident = None
                    for line in frame.split(b"\n"):
                        if line.startswith(b"id:"):
                            ident = int(line[3:].strip())
                    if ident is None:
                        continue  # heartbeat
                    stats["events"] += 1
                    last_event[0] = time.monotonic()
                    if ident in seen[session]:
                        stats["duplicates"] += 1
                    if last_id is not None and ident <= last_id:
                        stats["out_of_order"] += 1
                    seen[session].add(ident)
                    last_id = ident
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        stats["open"] -= 1
        writer.close()


async def main():
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    tasks = [asyncio.create_task(follow(s)) for s in sessions]
    await stop.wait()
    while time.monotonic() - last_event[0] < float(os.environ.get("STREAMS_QUIET_SECS", "1.0")):
        await asyncio.sleep(0.2)
    stats["distinct"] = sum(len(v) for v in seen.values())
    with open(stats_file, "w") as f:
        f.write(json.dumps(stats) + "\n")
    for t in tasks:
        t.cancel()


asyncio.run(main())
