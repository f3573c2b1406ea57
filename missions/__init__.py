"""In-tree mission plug-ins, one package per mission (issue 3)."""
