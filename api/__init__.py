"""The HTTP API: starts checkouts, relays MercadoPago notifications, reads the read model."""
