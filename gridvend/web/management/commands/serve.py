"""`gridvend serve`: run the application over HTTP with gunicorn (processes × threads; the
production server), or with waitress (threads in one process) where there is no fork().

``--with-worker`` also starts `gridvend worker` beside it, ``--with-banklink`` the bank
link's TCP listeners (`gridvend banklink serve`), ``--with-terminals`` the handheld terminals'
gateway (`gridvend terminals serve`) and ``--with-sandbox`` the sandbox M-Pesa of
the phone paybill (`gridvend phone sandbox`); each is stopped when the server stops (the
demo; in production run each as a service of its own, docs/deployment.md).
"""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

# How long a stopping worker may take to finish the jobs it has started.
WORKER_STOP_SECONDS = 30


def _positive(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 64:
        raise ValueError(text)
    return value


class Command(BaseCommand):
    help = (
        "Serve gridvend over HTTP: gunicorn by default (GRIDVEND_WEB_WORKERS processes of "
        "GRIDVEND_WEB_THREADS threads), or waitress (--server waitress, for platforms without "
        "fork). --with-worker runs the background worker beside it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        web = settings.WEB_SERVER
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--server", choices=["gunicorn", "waitress"], default=web.server)
        parser.add_argument("--workers", type=_positive, default=None, help="processes (gunicorn)")
        parser.add_argument("--threads", type=_positive, default=None, help="threads per process")
        parser.add_argument(
            "--with-worker",
            action="store_true",
            help="also run `gridvend worker`, stopped when the server stops",
        )
        parser.add_argument(
            "--with-banklink",
            action="store_true",
            help="also run `gridvend banklink serve`, stopped when the server stops",
        )
        parser.add_argument(
            "--with-terminals",
            action="store_true",
            help="also run `gridvend terminals serve`, stopped when the server stops",
        )
        parser.add_argument(
            "--with-sandbox",
            action="store_true",
            help="also run `gridvend phone sandbox` (the sandbox M-Pesa), stopped with the server",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        web = settings.WEB_SERVER
        server = options["server"]
        port = options["port"]
        if not 0 <= port <= 65535:
            raise CommandError("--port must be from 0 to 65535")
        if server == "gunicorn" and not hasattr(os, "fork"):
            raise CommandError("gunicorn needs fork(); use --server waitress on this platform")
        workers = options["workers"] or web.workers
        threads = options["threads"] or (
            web.threads if server == web.server else (4 if server == "gunicorn" else 8)
        )
        if not settings.REQUIRE_ADMIN_TOTP:
            self.stdout.write(
                self.style.WARNING(
                    "WARNING: two-step sign-in for Administrators is switched off "
                    "(GRIDVEND_REQUIRE_ADMIN_TOTP=false). Never run production like this."
                )
            )
        host = options["host"]
        shown = f"[{host}]" if ":" in host else host
        if server == "gunicorn":
            how = f"gunicorn, {workers} process(es) x {threads} thread(s)"
        else:
            how = f"waitress, {threads} thread(s)"
        self.stdout.write(
            f"gridvend is serving {settings.UTILITY_NAME} on http://{shown}:{port}/ ({how})"
        )
        self.stdout.flush()
        # Nothing this process opened may be shared with the processes it starts.
        connections.close_all()
        forget_dead_processes_metrics()
        beside: list[tuple[str, subprocess.Popen[bytes]]] = []
        if options["with_worker"]:
            beside.append(("worker", self._start_beside("worker", ["worker"])))
        if options["with_banklink"]:
            beside.append(("banklink", self._start_beside("banklink", ["banklink", "serve"])))
        if options["with_terminals"]:
            beside.append(("terminals", self._start_beside("terminals", ["terminals", "serve"])))
        if options["with_sandbox"]:
            beside.append(("sandbox", self._start_beside("phone sandbox", ["phone", "sandbox"])))
        # gunicorn forks its processes from inside the call below, and each leaves through it
        # when it ends: only this process, the parent of those beside it, stops them.
        parent = os.getpid()
        try:
            if server == "gunicorn":
                _run_gunicorn(host, port, workers=workers, threads=threads, timeout=web.timeout)
            else:
                from waitress import serve

                from gridvend.wsgi import application

                # waitress stops on Ctrl-C only; a service manager sends SIGTERM.
                signal.signal(signal.SIGTERM, _exit_on_signal)
                serve(application, host=host, port=port, threads=threads)
        finally:
            if os.getpid() == parent:
                for name, process in beside:
                    self._stop_beside(name, process)

    def _start_beside(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        # A session of its own: Ctrl-C in the terminal reaches the server only, and the process
        # is stopped below, after the server, with SIGTERM (the worker finishes the job it runs,
        # the bank link the frames it is answering).
        process = subprocess.Popen(
            [sys.executable, "-m", "gridvend", *command], start_new_session=True
        )
        self.stdout.write(f"gridvend {name} started beside the server (process {process.pid})")
        return process

    def _stop_beside(self, name: str, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=WORKER_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.stdout.write(f"gridvend {name} (process {process.pid}) stopped with the server")


def _child_exit(server: Any, worker: Any) -> None:
    if settings.METRICS_DIR:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def forget_dead_processes_metrics() -> None:
    """Remove the metrics files of processes that no longer run (an earlier server, a worker
    that was restarted): their counts would otherwise stay in every scrape forever. Prometheus
    reads the drop as a counter reset, which rate() expects."""
    if not settings.METRICS_DIR:
        return
    folder = Path(settings.METRICS_DIR)
    for path in folder.glob("*_*.db"):
        pid_text = path.stem.rsplit("_", 1)[-1]
        if not pid_text.isdigit():
            continue
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            path.unlink(missing_ok=True)
        except PermissionError:
            continue  # alive, another user's


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _run_gunicorn(host: str, port: int, *, workers: int, threads: int, timeout: int) -> None:
    from gunicorn.app.base import BaseApplication

    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    options: dict[str, Any] = {
        "bind": [bind],
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "timeout": timeout,
        "graceful_timeout": 30,
        "keepalive": 5,
        # Access lines go to the standard output, errors to the standard error (journald). The
        # application also writes one line per request with its request id (gridvend.requests,
        # JSON with GRIDVEND_LOG_FORMAT=json), at INFO.
        "accesslog": "-",
        "errorlog": "-",
        # X-Forwarded-* are believed only from GRIDVEND_TRUSTED_PROXIES, as in the app itself.
        "forwarded_allow_ips": ",".join(
            str(ipaddress.ip_network(proxy, strict=False)) for proxy in settings.TRUSTED_PROXIES
        ),
        "control_socket_disable": True,
        "proc_name": "gridvend",
        # Each process is forked after the application is loaded once (faster start, shared
        # memory); no database connection is open at the fork.
        "preload_app": True,
        # A process that ends takes its live gauges with it (prometheus-client multiprocess).
        "child_exit": _child_exit,
    }

    class _Gunicorn(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from gridvend.wsgi import application

            return application

    _Gunicorn().run()
