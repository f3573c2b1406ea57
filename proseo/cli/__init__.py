"""The ``proseo`` command line: a Typer root app to which each service adds its sub-app."""
