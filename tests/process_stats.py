"""Process memory figures for benchmarks and memory-ceiling tests (Linux /proc)."""
from pathlib import Path


def rss_mb(pid, field="VmHWM"):
    """A /proc/<pid>/status memory figure in MB: VmHWM (peak RSS) or VmRSS (now)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def child_pids(pid):
    """Direct children of a process (a Celery or gunicorn master's workers)."""
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(c) for c in (task / "children").read_text().split()]
    return children
