"""Processing-order lifecycle: approve, plan, release, suspend, ... (issue 4)."""
