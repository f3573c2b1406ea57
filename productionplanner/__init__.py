"""Dispatcher and executors (local, Slurm, Kubernetes) for job steps (issue 6)."""
