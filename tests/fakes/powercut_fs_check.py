#!/usr/bin/env python3
"""Self-check for powercut_fs.py.  Run: python3 tests/fakes/powercut_fs_check.py

Needs root, /dev/fuse, libfuse3 and the `mfusepy` pip package.  Exits 0 when
every check passes.  Each scenario mounts powercut_fs on fresh temp dirs,
does some I/O through the mount, cuts power (SIGUSR1) and then inspects the
BACKING dir, which is what a machine would find on disk after the cut.

  1. plain files: unsynced data is gone, fsync'ed data is all there, an
     unsynced overwrite of synced data leaves the synced data, reads through
     the mount see buffered writes, later I/O on the dead mount fails.
  2. SQLite, WAL, synchronous=FULL, 300 one-row commits: all 300 survive.
  3. the same with 4 threads (one connection each) and frequent checkpoints.
  4. SQLite, WAL, synchronous=NORMAL, 300 commits: fewer survive.
  5. the same as 4 with frequent checkpoints: the rows up to the last
     checkpoint survive, the rest are lost.
  2b. a cut while a thread is committing with synchronous=FULL: every commit
     acknowledged before the signal was sent survives.
  6. SIGTERM and an external umount: exit 0 quietly, unsynced data dropped.
"""

from __future__ import annotations

import errno
import os
import queue
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

FS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "powercut_fs.py")
CUT_RE = re.compile(r"^cut: dropped (\d+) bytes in (\d+) files$")
N = 300


class Mount:
    def __init__(self, name):
        self.tmp = tempfile.mkdtemp(prefix=f"powercut-{name}-")
        self.backing = os.path.join(self.tmp, "backing")
        self.mnt = os.path.join(self.tmp, "mnt")
        os.mkdir(self.backing)
        os.mkdir(self.mnt)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.errlog = open(os.path.join(self.tmp, "stderr.txt"), "w+")
        self.proc = subprocess.Popen([sys.executable, FS, self.backing, self.mnt],
                                     stdout=subprocess.PIPE, stderr=self.errlog, text=True)
        threading.Thread(target=self._pump, daemon=True).start()
        line = self._line(15)
        if line != "ready":
            raise AssertionError(f"expected 'ready', got {line!r}; stderr: {self._stderr()}")
        if not os.path.ismount(self.mnt):
            raise AssertionError("'ready' printed but the mount point is not mounted")

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _line(self, timeout):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def _stderr(self):
        self.errlog.flush()
        self.errlog.seek(0)
        return self.errlog.read()

    def path(self, name):
        return os.path.join(self.mnt, name)

    def bpath(self, name):
        return os.path.join(self.backing, name)

    def cut(self):
        """Power cut; returns (bytes, files) dropped as the daemon reports."""
        self.proc.send_signal(signal.SIGUSR1)
        line = self._line(15)
        m = CUT_RE.match(line or "")
        if not m:
            raise AssertionError(f"bad cut line {line!r}; stderr: {self._stderr()}")
        rc = self.proc.wait(timeout=15)
        if rc != 0:
            raise AssertionError(f"daemon exited {rc} after the cut; stderr: {self._stderr()}")
        if os.path.ismount(self.mnt):
            raise AssertionError("still mounted after the daemon exited")
        return int(m.group(1)), int(m.group(2))

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if os.path.ismount(self.mnt):
            subprocess.run(["umount", "-l", self.mnt], check=False)
        self.errlog.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)
    print(f"  ok: {msg}")


def write_file(path, data, fsync):
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        if fsync:
            os.fsync(f.fileno())


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def scenario_files():
    print("1. plain files")
    synced = os.urandom(200_000)
    unsynced = os.urandom(50_000)
    with Mount("files") as m:
        write_file(m.path("synced.bin"), synced, fsync=True)
        write_file(m.path("unsynced.bin"), unsynced, fsync=False)
        write_file(m.path("over.txt"), b"OLD-CONTENT", fsync=True)
        with open(m.path("over.txt"), "r+b") as f:       # unsynced overwrite + growth
            f.write(b"NEW-CONTENT, longer")
        os.makedirs(m.path("sub"))
        write_file(m.path("sub/dd.bin"), b"x" * 1000, fsync=False)
        fd = os.open(m.path("sub/dd.bin"), os.O_WRONLY)
        os.pwrite(fd, b"y" * 10, 5000)                    # hole + write past EOF
        os.fdatasync(fd)                                  # fdatasync counts too
        os.close(fd)

        check(read_file(m.path("unsynced.bin")) == unsynced, "mount reads back unsynced data")
        check(os.stat(m.path("unsynced.bin")).st_size == len(unsynced),
              "mount stat size includes unsynced data")
        check(read_file(m.path("over.txt")) == b"NEW-CONTENT, longer", "mount sees the unsynced overwrite")
        check(os.path.getsize(m.bpath("unsynced.bin")) == 0,
              "before the cut the backing file is still empty (writes are buffered)")
        check(read_file(m.bpath("synced.bin")) == synced, "before the cut the fsync'ed file is in backing")
        check(read_file(m.bpath("over.txt")) == b"OLD-CONTENT", "before the cut backing has the old content")

        held = open(m.path("unsynced.bin"), "r+b")      # a client still holding a file at the cut
        nbytes, nfiles = m.cut()
        check((nbytes, nfiles) == (len(unsynced) + len(b"NEW-CONTENT, longer"), 2),
              f"cut reported {nbytes} bytes in {nfiles} files")
        try:
            held.write(b"z")
            held.flush()
            os.fsync(held.fileno())
            failed = None
        except OSError as e:
            failed = e.errno
        check(failed in (errno.EIO, errno.ENOTCONN),
              f"I/O on the dead mount fails ({errno.errorcode.get(failed, failed)})")
        try:
            held.close()
        except OSError:
            pass

        check(read_file(m.bpath("synced.bin")) == synced, "after the cut the fsync'ed file is complete")
        check(os.path.getsize(m.bpath("unsynced.bin")) == 0,
              "after the cut the unsynced file's data is gone (its creation, metadata, stays)")
        check(read_file(m.bpath("over.txt")) == b"OLD-CONTENT", "after the cut the overwrite is undone")
        check(read_file(m.bpath("sub/dd.bin")) == b"x" * 1000 + bytes(4000) + b"y" * 10,
              "fdatasync'ed file with a hole is complete")


def sqlite_connect(path, sync, autocheckpoint=None):
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL").fetchone()
    conn.execute(f"PRAGMA synchronous={sync}")
    if autocheckpoint is not None:
        conn.execute(f"PRAGMA wal_autocheckpoint={autocheckpoint}")
    return conn


def sqlite_setup(path):
    conn = sqlite_connect(path, "FULL")
    conn.execute("CREATE TABLE reminders (id INTEGER PRIMARY KEY, who TEXT, body TEXT)")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()  # setup is durable
    return conn


def commit_rows(conn, ids):
    for i in ids:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO reminders (id, who, body) VALUES (?, ?, ?)",
                     (i, f"+8613800{i:06d}", f"take medicine #{i}"))
        conn.execute("COMMIT")


def count_backing(path):
    conn = sqlite3.connect(path)
    try:
        ok = conn.execute("PRAGMA integrity_check").fetchone()[0]
        n = conn.execute("SELECT count(*) FROM reminders").fetchone()[0]
        ids = [r[0] for r in conn.execute("SELECT id FROM reminders ORDER BY id")]
    finally:
        conn.close()
    return ok, n, ids


def sqlite_run(name, sync, threads=1, autocheckpoint=None):
    with Mount(name) as m:
        db = m.path("careminder.db")
        setup = sqlite_setup(db)
        setup.close()
        conns = [sqlite_connect(db, sync, autocheckpoint) for _ in range(threads)]
        per = N // threads
        t0 = time.perf_counter()
        if threads == 1:
            commit_rows(conns[0], range(1, N + 1))
        else:
            errs = []

            def work(k):
                try:
                    commit_rows(conns[k], range(k * per + 1, (k + 1) * per + 1))
                except Exception as e:  # noqa: BLE001
                    errs.append(e)

            ts = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            if errs:
                raise errs[0]
        elapsed = time.perf_counter() - t0
        seen = conns[0].execute("SELECT count(*) FROM reminders").fetchone()[0]
        check(seen == N, f"{N} rows visible through the mount before the cut")
        # Cut with the connections still open (the mount is busy: lazy umount).
        nbytes, nfiles = m.cut()
        for c in conns:
            try:
                c.close()
            except sqlite3.Error:
                pass
        ok, n, ids = count_backing(m.bpath("careminder.db"))
        check(ok == "ok", "backing copy passes integrity_check")
        check(ids == list(range(1, n + 1)) or threads > 1,
              "surviving rows are a prefix of the commit order")
        return elapsed, n, nbytes, nfiles


def scenario_cut_midstream():
    print("2b. SQLite WAL synchronous=FULL, cut while a thread is committing")
    with Mount("midstream") as m:
        db = m.path("careminder.db")
        sqlite_setup(db).close()
        conn = sqlite_connect(db, "FULL")
        acked = [0]
        failure = []

        def writer():
            try:
                for i in range(1, 100_000):
                    commit_rows(conn, [i])
                    acked[0] = i
            except sqlite3.Error as e:
                failure.append(e)

        t = threading.Thread(target=writer)
        t.start()
        while acked[0] < 150 and t.is_alive():
            time.sleep(0.001)
        acked_at_cut = acked[0]
        m.cut()
        t.join(timeout=30)
        check(not t.is_alive() and bool(failure),
              f"the writer fails after the cut ({failure[0] if failure else None})")
        try:
            conn.close()
        except sqlite3.Error:
            pass
        ok, n, ids = count_backing(m.bpath("careminder.db"))
        check(ok == "ok" and ids == list(range(1, n + 1)), "backing copy is consistent")
        check(acked_at_cut <= n <= acked[0] + 1,
              f"every commit acknowledged before the cut survived "
              f"(acked when signalled {acked_at_cut}, acked in all {acked[0]}, in backing {n})")


def scenario_other_stops():
    print("6. SIGTERM and external umount: quiet, exit 0, unsynced data dropped")
    for how in ("SIGTERM", "umount"):
        with Mount(how) as m:
            write_file(m.path("f"), b"unsynced", fsync=False)
            write_file(m.path("g"), b"synced", fsync=True)
            if how == "SIGTERM":
                m.proc.send_signal(signal.SIGTERM)
            else:
                subprocess.run(["umount", m.mnt], check=True)
            rc = m.proc.wait(timeout=15)
            line = m._line(5)
            check(rc == 0 and line is None and not os.path.ismount(m.mnt),
                  f"{how}: exit 0, nothing more on stdout, unmounted")
            check(os.path.getsize(m.bpath("f")) == 0 and read_file(m.bpath("g")) == b"synced",
                  f"{how}: unsynced data dropped, synced data kept")


def plain_dir_timing():
    tmp = tempfile.mkdtemp(prefix="powercut-plain-")
    try:
        db = os.path.join(tmp, "careminder.db")
        sqlite_setup(db).close()
        conn = sqlite_connect(db, "FULL")
        t0 = time.perf_counter()
        commit_rows(conn, range(1, N + 1))
        elapsed = time.perf_counter() - t0
        conn.close()
        return elapsed
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    if os.geteuid() != 0:
        print("needs root (FUSE mount without fusermount3)")
        return 1
    print(f"sqlite {sqlite3.sqlite_version}, python {sys.version.split()[0]}")
    scenario_files()

    print(f"2. SQLite WAL synchronous=FULL, {N} single-row commits, 1 thread")
    t_full, n, b, f = sqlite_run("full", "FULL")
    print(f"  cut dropped {b} bytes in {f} files")
    check(n == N, f"backing copy has all {N} rows ({n})")
    t_plain = plain_dir_timing()
    print(f"  timing: {N} FULL commits through FUSE {t_full:.2f} s "
          f"({t_full / N * 1000:.2f} ms/commit); same on the plain backing fs {t_plain:.2f} s")

    scenario_cut_midstream()

    print(f"3. SQLite WAL synchronous=FULL, 4 threads x {N // 4} commits, wal_autocheckpoint=50")
    t, n, b, f = sqlite_run("full-mt", "FULL", threads=4, autocheckpoint=50)
    print(f"  cut dropped {b} bytes in {f} files; {t:.2f} s")
    check(n == N, f"backing copy has all {N} rows ({n})")

    print(f"4. SQLite WAL synchronous=NORMAL, {N} single-row commits")
    t, n, b, f = sqlite_run("normal", "NORMAL")
    print(f"  cut dropped {b} bytes in {f} files; {t:.2f} s")
    check(n < N, f"backing copy has fewer than {N} rows ({n} survived)")

    print(f"5. SQLite WAL synchronous=NORMAL, {N} commits, wal_autocheckpoint=50")
    t, n, b, f = sqlite_run("normal-ckpt", "NORMAL", autocheckpoint=50)
    print(f"  cut dropped {b} bytes in {f} files; {t:.2f} s")
    check(0 < n < N, f"rows up to the last checkpoint survive, later ones are lost ({n} survived)")

    scenario_other_stops()

    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
