"""``python -m pipeline.emulators``: serve both emulators in the foreground."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from .stack import DEFAULT_APNS_PORT, DEFAULT_GOOGLE_PORT, serve
from .walletstore import DEFAULT_ISSUER_ID


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.emulators",
        description="Serve the Google Wallet and APNs emulators until interrupted.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--public-host",
        help="name clients reach the emulators by, when not --host "
        "(e.g. a compose service name while listening on 0.0.0.0)",
    )
    parser.add_argument(
        "--google-port",
        type=int,
        default=DEFAULT_GOOGLE_PORT,
        help="port of the Google Wallet emulator (0 picks a free one)",
    )
    parser.add_argument(
        "--apns-port",
        type=int,
        default=DEFAULT_APNS_PORT,
        help="port of the APNs emulator (0 picks a free one)",
    )
    parser.add_argument(
        "--env-file",
        type=Path,
        help="write the WALLET_SYNC_* settings here once the emulators are up",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path(".wallet-sync/emulators"),
        help="where the generated certificates and service-account key go",
    )
    parser.add_argument(
        "--issuer-id", default=DEFAULT_ISSUER_ID, help="Google Wallet issuer id"
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="latency added to every API call of both emulators",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    """Parse options and serve until SIGINT or SIGTERM."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    serve(
        args.host,
        args.google_port,
        args.apns_port,
        args.env_file,
        args.workdir,
        issuer_id=args.issuer_id,
        latency_ms=args.latency_ms,
        public_host=args.public_host,
    )


if __name__ == "__main__":
    main()
