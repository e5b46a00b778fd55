"""Serving the dashboard: Dash's Flask app on a threaded WSGI server that stops on SIGTERM."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from werkzeug.serving import make_server

from modelyard.config import Settings, masked_url
from modelyard.dashboard.app import create_app
from modelyard.dashboard.state import DashboardState

log = logging.getLogger(__name__)


def serve(settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT, then close the database pool and the HTTP client."""
    state = DashboardState.from_settings(settings)
    try:
        app = create_app(settings, state)
        server = make_server(settings.host, settings.ui_port, app.server, threaded=True)
        stop = threading.Event()

        def request_stop(signum: int, _frame: FrameType | None) -> None:
            log.info("received %s; stopping the dashboard", signal.Signals(signum).name)
            stop.set()

        signals = (signal.SIGTERM, signal.SIGINT)
        previous = {sig: signal.signal(sig, request_stop) for sig in signals}
        thread = threading.Thread(target=server.serve_forever, name="dashboard-http", daemon=True)
        thread.start()
        log.info(
            "dashboard on http://%s:%d/ (database %s, MLflow %s)",
            settings.client_host,
            server.server_port,
            state.engine.url.render_as_string(hide_password=True),
            masked_url(settings.tracking_uri),
        )
        try:
            stop.wait()
        finally:
            server.shutdown()
            thread.join(timeout=10)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    finally:
        state.close()
    log.info("dashboard stopped")
