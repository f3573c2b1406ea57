"""Product ingestion: service, REST router, CLI and pickup-point monitors (issue 5)."""
