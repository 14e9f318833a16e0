import logging

import uvicorn

from .app import create_app
from .model import warm_up
from .settings import Settings

settings = Settings()
logging.basicConfig(
    level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
)
# Load the tokenizer before serving, so the first reply does not wait for it.
warm_up()
# uvicorn serves the health endpoints and runs the consumers in the app's lifespan.
uvicorn.run(
    create_app(settings),
    host=settings.health_host,
    port=settings.responder_health_port,
    log_level="warning",
    timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
)
