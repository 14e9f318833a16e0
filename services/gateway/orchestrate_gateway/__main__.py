import logging

import uvicorn

from .app import create_app
from .settings import Settings

settings = Settings()
logging.basicConfig(
    level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
)
uvicorn.run(
    create_app(settings),
    host=settings.host,
    port=settings.port,
    log_level="warning",
    timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
    # Longer than a load balancer's idle timeout (often 60 s): the balancer, not the
    # server, closes idle connections, so no request meets a connection closing under it.
    timeout_keep_alive=75,
)
