import asyncio
import logging

from .app import create_app
from .settings import Settings

settings = Settings()
logging.basicConfig(
    level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
)
asyncio.run(create_app(settings).run())
