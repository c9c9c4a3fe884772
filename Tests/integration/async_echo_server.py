#!/usr/bin/env python3
"""Echo backend for many concurrent connections (one asyncio process, no thread per connection), for the
9,500-idle-connections and the 20,000-drops tests. Usage: async_echo_server.py HOST PORT [GREETING] (GREETING + CRLF
is sent first on each connection, a stand-in for a server that talks first)."""
import asyncio
import sys


GREETING = sys.argv[3].encode() + b"\r\n" if len(sys.argv) > 3 else b""


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        writer.write(GREETING)
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


async def main() -> None:
    server = await asyncio.start_server(echo, sys.argv[1], int(sys.argv[2]), backlog=4096)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
