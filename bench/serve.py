"""Serve Quill or the bare ceiling app with the uvicorn settings `quill serve` uses.

    python -m bench.serve quill --port 8123 --workers 2
    python -m bench.serve bare --port 8124 --workers 2

Quill reads its settings from the QUILL_* environment (the harness sets them); the
database must already be migrated and loaded.
"""

from __future__ import annotations

import argparse

import uvicorn

APPS = {"quill": "quill.asgi:app", "bare": "bench.bare_app:app"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="serve an app for the benchmark")
    parser.add_argument("app", choices=sorted(APPS))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    # Same flags as quill.cli.serve, so the ceiling and Quill differ only in the app.
    uvicorn.run(APPS[args.app], factory=True, host="127.0.0.1", port=args.port,
                workers=args.workers, log_config=None, proxy_headers=False,
                server_header=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
