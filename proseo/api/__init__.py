"""The REST API: :func:`proseo.api.app.create_app` mounts every service's router."""
