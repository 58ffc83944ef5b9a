"""What a sandbox instance is told at start: who it is (collector, token) and where it delivers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SandboxConfig:
    # Base of init_point links and IPN `resource` URLs. Empty: taken from each request's own URL.
    public_url: str = ""
    # Where webhooks go, as configured in MercadoPago's "Your integrations". Empty: no deliveries.
    notification_url: str = ""
    # The application's "secret signature" that signs x-signature.
    webhook_secret: str = ""
    # The seller's access token. Empty: any bearer token is accepted (still one is required).
    access_token: str = ""
    collector_id: int = 123456789
    # MercadoPago lets a preference's notification_url win; the SDK deprecates it, so off by default.
    honor_preference_notification_url: bool = False
    site_id: str = "MLA"
