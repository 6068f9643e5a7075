"""Start the composer (`make app`): `python -m ebmgraph.app_launch [FILE] [--host H] [--port P] [-- STREAMLIT_OPTIONS]`.

It serves on 127.0.0.1 (this machine only) unless --host names another address. The app has no
login: whoever reaches it can edit and save the opened file, start training runs and upload files,
so any other host is served only with a warning saying so. Options after `--` go to `streamlit run`
as they are (e.g. `-- --server.headless true`), except the address, which is --host's alone."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app" / "app.py"
LOOPBACK = "127.0.0.1"


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only: a loopback address or `localhost`."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name, or "" (every interface): it may be reached from the network
        return False


def warning(host: str, port: int | None, file: str | None) -> str:
    """What serving on a non-loopback host risks, said before the server starts."""
    where = "every network interface" if host in ("", "0.0.0.0", "::", "[::]") else host
    opened = f"the opened file ({file})" if file else "the opened file"
    return (f"WARNING: the composer is served on {where} (port {port or 8501}), not only on this machine.\n"
            f"  It has no login: anyone who can reach this machine on that port can edit and save {opened},\n"
            f"  start training runs (CPU, memory and disk on this machine) and upload files to it.\n"
            f"  Serve it this way only on a network you trust; to serve this machine alone, leave --host out\n"
            f"  (or `make app` without HOST=): it is then {LOOPBACK}.")


def command(argv: list[str]) -> tuple[list[str], str | None]:
    """The `streamlit run` command line for these arguments, and the warning to print first (None on a
    loopback host). Raises SystemExit (argparse's) on arguments it refuses."""
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(prog="python -m ebmgraph.app_launch",
                                     description="Start the ebmgraph composer (Streamlit).")
    parser.add_argument("file", nargs="?", help="the .ebm file to open; Save writes back to it "
                        "(default: library/jepa.ebm, as a template)")
    parser.add_argument("--host", default=LOOPBACK,
                        help=f"the address to serve on (default {LOOPBACK}: this machine only). Any other, "
                             "e.g. 0.0.0.0, lets anyone who can reach this machine edit and save the file, "
                             "train and upload")
    parser.add_argument("--port", type=int, default=None, help="the port (default: Streamlit's, 8501)")
    args = parser.parse_args(argv)
    if any(x == "--server.address" or x.startswith("--server.address=") for x in extra):
        parser.error("give the address with --host, not --server.address")
    if args.port is not None and not 0 < args.port < 65536:
        parser.error(f"--port {args.port}: a port is 1 to 65535")
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP), "--browser.gatherUsageStats", "false",
           "--server.address", args.host]
    if args.port is not None:
        cmd += ["--server.port", str(args.port)]
    cmd += extra
    if args.file:
        cmd += ["--", args.file]
    return cmd, None if is_loopback(args.host) else warning(args.host, args.port, args.file)


def main(argv: list[str] | None = None) -> None:
    cmd, warn = command(sys.argv[1:] if argv is None else argv)
    if not APP.exists():
        sys.exit(f"error: the app is not beside this package ({APP} is missing): run it from a checkout of ebmgraph")
    if warn:
        print(warn, file=sys.stderr, flush=True)
    sys.stdout.flush()
    os.execv(sys.executable, cmd)  # streamlit in this process: Ctrl-C and signals reach it directly


if __name__ == "__main__":
    main()
