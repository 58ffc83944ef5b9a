"""Activities: they act (MercadoPago, the database, other workflows), idempotently. They never decide."""
