#!/usr/bin/env python3
"""A real SMTP server (aiosmtpd) on 127.0.0.1 for the reset tests: every message it accepts
is stored as an .eml file in --dir. Prints the port, then serves until terminated.

    scripts/smtp-sink.py --dir DIR --port-file FILE
"""
import argparse
import asyncio
import pathlib
import signal
import socket
import time
import uuid

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory: pathlib.Path):
        self.directory = directory

    async def handle_DATA(self, server, session, envelope):
        name = f"{time.time_ns()}-{uuid.uuid4().hex}.eml"
        partial = self.directory / (name + ".part")
        partial.write_bytes(envelope.original_content or envelope.content)
        partial.rename(self.directory / name)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port-file", required=True)
    args = parser.parse_args()
    directory = pathlib.Path(args.dir)
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    controller = Controller(Sink(directory), hostname="127.0.0.1", port=port)
    controller.start()
    pathlib.Path(args.port_file).write_text(str(port))
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.run_until_complete(stop.wait())
    controller.stop()


if __name__ == "__main__":
    main()
