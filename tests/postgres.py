"""A throwaway PostgreSQL cluster from Debian's packages, for the tests (or VOXMOJI_TEST_POSTGRES_URL)."""
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from stack_process import free_port


class Postgres:
    """initdb + pg_ctl under a temp directory, on a free port; `url` is a SQLAlchemy URL."""

    def __init__(self):
        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not binaries:
            raise RuntimeError("PostgreSQL is not installed; `make install` installs Debian's postgresql package")
        self.bin = Path(binaries[-1]).parent
        self.root = Path(tempfile.mkdtemp(prefix="voxmoji-pg-"))
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/voxmoji"
        self._as = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            account = pwd.getpwnam("postgres")
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *argv):
        subprocess.run([*self._as, *argv], check=True, capture_output=True, timeout=120)

    def start(self):
        data = self.root / "data"
        self._run(str(self.bin / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync")
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300")
        self._run(str(self.bin / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(self.root / "postgres.log"),
                  "-w", "start")
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "voxmoji")
        return self

    def stop(self):
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def postgres_url():
    """(url, cluster or None): a configured server, or a freshly started throwaway cluster."""
    configured = os.environ.get("VOXMOJI_TEST_POSTGRES_URL")
    if configured:
        return configured, None
    cluster = Postgres().start()
    return cluster.url, cluster
