#!/usr/bin/env python3
"""A TCP proxy on loopback that delays every byte by a fixed time in each direction, as a distant S3 region would.

    scripts/latency-proxy.py TARGET_HOST:PORT [--delay-ms 20] [--port 0] [--stats FILE]

It listens on 127.0.0.1 (an ephemeral port unless --port is given), prints `PORT=<port>` on stdout once it accepts
connections, and forwards each connection to TARGET. Whatever arrives from either side is passed on DELAY ms after
it arrived, without holding back what follows it: the link has latency, not a bandwidth limit, so a request and its
answer cost one round trip of 2 x DELAY, and requests in flight on parallel connections overlap as they would over
a real network. On SIGTERM or SIGINT it writes, if --stats was given, `connections=N` and `requests=N` (the number
of times a client started sending after it had heard from the server, a fair count of HTTP requests on kept-alive
connections) to FILE and exits; SIGUSR1 writes the counts so far without stopping.
"""

import argparse
import asyncio
import signal
import sys

CHUNK = 256 * 1024


class Stats:
    def __init__(self):
        self.connections = 0
        self.requests = 0


async def forward(reader, writer, delay, on_burst=None):
    """Copy reader to writer, each piece delivered `delay` seconds after it was read. `on_burst` is called when data
    arrives after the other direction last spoke (a new request on a kept-alive connection)."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def pump():
        try:
            while True:
                data = await reader.read(CHUNK)
                if on_burst is not None and data:
                    on_burst()
                queue.put_nowait((loop.time() + delay, data))
                if not data:
                    return
        except (ConnectionError, OSError):
            queue.put_nowait((loop.time() + delay, b""))

    async def deliver():
        try:
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            return

    await asyncio.gather(pump(), deliver())


async def serve(args, stats):
    host, _, port = args.target.rpartition(":")
    delay = args.delay_ms / 1000.0

    async def handle(client_r, client_w):
        stats.connections += 1
        try:
            server_r, server_w = await asyncio.open_connection(host or "127.0.0.1", int(port))
        except OSError:
            client_w.close()
            return
        # A request starts when the client speaks after the server did (or first).
        state = {"server_spoke": True}

        def client_burst():
            if state["server_spoke"]:
                stats.requests += 1
                state["server_spoke"] = False

        def server_burst():
            state["server_spoke"] = True

        try:
            await asyncio.gather(
                forward(client_r, server_w, delay, client_burst),
                forward(server_r, client_w, delay, server_burst),
            )
        finally:
            for w in (server_w, client_w):
                try:
                    w.close()
                except Exception:
                    pass

    server = await asyncio.start_server(handle, "127.0.0.1", args.port, limit=CHUNK)
    bound = server.sockets[0].getsockname()[1]
    print(f"PORT={bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if args.stats:
        loop.add_signal_handler(signal.SIGUSR1, lambda: write_stats(args.stats, stats))
    async with server:
        await stop.wait()


def write_stats(path, stats):
    with open(path, "w") as f:
        f.write(f"connections={stats.connections}\nrequests={stats.requests}\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("target", help="HOST:PORT to forward to")
    p.add_argument("--delay-ms", type=float, default=20.0, help="delay in each direction (default 20)")
    p.add_argument("--port", type=int, default=0, help="port to listen on (default: any free one)")
    p.add_argument("--stats", help="file to write connection and request counts to on exit")
    args = p.parse_args()
    stats = Stats()
    try:
        asyncio.run(serve(args, stats))
    finally:
        if args.stats:
            write_stats(args.stats, stats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
