# gunicorn settings for running gridvend without `gridvend serve` (which sets the same ones
# itself): gunicorn -c deploy/gunicorn.conf.py gridvend.wsgi:application
import multiprocessing
import os

bind = os.environ.get("GRIDVEND_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GRIDVEND_WEB_WORKERS", min(2 * multiprocessing.cpu_count() + 1, 12)))
worker_class = "gthread"
threads = int(os.environ.get("GRIDVEND_WEB_THREADS", 4))
timeout = int(os.environ.get("GRIDVEND_WEB_TIMEOUT_SECONDS", 60))
graceful_timeout = 30
keepalive = 5
# The application also writes one line per request with its request id (gridvend.requests).
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = os.environ.get("GRIDVEND_TRUSTED_PROXIES", "127.0.0.1")
control_socket_disable = True
proc_name = "gridvend"
preload_app = True


def child_exit(server, worker):
    # prometheus-client multiprocess mode: a process that ends takes its live gauges with it.
    if os.environ.get("GRIDVEND_METRICS_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
