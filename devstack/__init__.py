"""The embedded stack: Temporal dev server, MercadoPago sandbox, migrations, API and worker."""
