"""A local MercadoPago: the API subset paysaga calls through the official SDK, the Checkout Pro
buyer page, and signed webhook delivery, all in memory, with knobs for MercadoPago's faults."""

from .app import create_app
from .config import SandboxConfig

__all__ = ["SandboxConfig", "create_app"]
