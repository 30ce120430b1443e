"""POSTs exactly N chat messages to a rivo server over C keep-alive connections.

    python3 bench/post_n.py PORT N [C]

Used by bench/webhook_callgrind.sh, where a fixed number of requests (not a fixed time) makes
instruction counts comparable between runs. Exits non-zero on any answer other than 201.
"""
import asyncio
import random
import sys
import uuid

PORT, N = int(sys.argv[1]), int(sys.argv[2])
C = int(sys.argv[3]) if len(sys.argv) > 3 else 8
SESSIONS = [str(uuid.UUID(int=random.getrandbits(128), version=4)) for _ in range(1000)]


async def worker(count: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    for _ in range(count):
        body = (
            '{"session_id":"%s","message":"Hello, I would like to know more","sender_type":"client"}'
            % random.choice(SESSIONS)
        ).encode()
        writer.write(
            b"POST /api/v1/chat/stream/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await reader.readexactly(length)
        if status != 201:
            raise SystemExit(f"unexpected status {status}")
    writer.close()


async def main() -> None:
    shares = [N // C + (1 if i < N % C else 0) for i in range(C)]
    await asyncio.gather(*(worker(s) for s in shares if s))


asyncio.run(main())
