import logging

import uvicorn

from .app import create_app
from .model import warm_up
from .settings import Settings

settings = Settings()
logging.basicConfig(
    level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
)
# Build the model (train it, or load it from the disk cache) before serving, so the
# first ticket does not wait for it.
warm_up()
# uvicorn serves the health endpoints and runs the consumers in the app's lifespan.
uvicorn.run(
    create_app(settings),
    host=settings.health_host,
    port=settings.classifier_health_port,
    log_level="warning",
    timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
)
