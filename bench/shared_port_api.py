"""An API process that shares its port with others (``SO_REUSEPORT``): the kernel spreads connections over them.

    python -m bench.shared_port_api --database-url URL --temporal-address HOST:PORT --port N [--pool-size 10]

Two of these on one port are two API replicas behind one address, as a load
balancer would put them, without a balancer process taking CPU of its own on a
small machine. The app is served as ``bench.reads serve`` serves it.
"""

from __future__ import annotations

import argparse
import socket
import sys

import uvicorn

from bench.reads import _Server
from cohortflow.api.app import create_app
from cohortflow.logs import configure_logging
from cohortflow.settings import Settings


def shared_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    return sock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.shared_port_api", description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--temporal-address", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pool-size", type=int, default=Settings().api_pool_size)
    args = parser.parse_args(argv)
    settings = Settings(api_pool_size=args.pool_size, log_level="warning")
    configure_logging(settings.log_format, settings.log_level)
    app = create_app(settings, args.database_url, temporal_address=args.temporal_address)
    config = uvicorn.Config(app, log_level="warning", access_log=False, loop="uvloop", http="httptools")
    _Server(config).run(sockets=[shared_socket(args.port)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
