#!/usr/bin/env python3
"""powercut_fs: a FUSE passthrough filesystem that loses unflushed writes at a
simulated power cut.  Test fixture for SQLite durability tests.

Usage:
    python3 tests/fakes/powercut_fs.py BACKING_DIR MOUNTPOINT [--debug]

It mounts a view of BACKING_DIR at MOUNTPOINT (foreground, one process) and
prints exactly "ready" on stdout once the mount answers.  Then:

  * SIGUSR1  = power cut: every write not yet fsync'ed is discarded (never
    reaches BACKING_DIR), every later operation fails with EIO, the line
    "cut: dropped N bytes in M files" is printed on stdout, the mount is
    unmounted (lazily if it is busy) and the process exits 0.
  * SIGTERM / SIGINT / SIGHUP = the same, without the "cut:" line.
  * An external `umount MOUNTPOINT` also ends the process (exit 0) and also
    drops whatever was not fsync'ed.

After the process has exited, BACKING_DIR holds exactly what a machine would
find on its disk after losing power: the data of each file as of its last
fsync/fdatasync.

WHAT IT MODELS
  POSIX leaves the durability of written data unspecified until fsync()
  (or fdatasync()) on that file returns; see the POSIX/SUSv4 pages for
  write(), fsync() and fdatasync().  A kernel page cache is the usual reason
  data is lost: write() only dirties cached pages, close() does not flush
  them, and a power loss drops them.  This fixture models that page cache in
  the daemon:
    - every data write (write(2), and writeback of mmap'ed pages) is kept in
      memory per file (per backing inode): a copy of the file's content plus
      the list of dirty byte ranges;
    - reads and getattr (size, mtime) see the buffered state
      (read-your-writes), so the mounted view behaves like a normal disk;
    - FUSE fsync (issued by the kernel for both fsync(2) and fdatasync(2))
      writes that file's dirty ranges to the backing file, and only then
      replies;
    - flush (close(2)) and release do NOT make anything durable.
  The design follows LazyFS (github.com/dsrhaslab/lazyfs, "When Amnesia
  Strikes: Understanding and Reproducing Data Loss Bugs with Fault Injection",
  VLDB 2024): a FUSE layer with its own page cache that writes through to the
  lower filesystem only on fsync, and a "clear cache" fault that drops the
  unsynced pages.  This is an independent, much smaller implementation (no
  code from LazyFS): no torn or reordered writes, no partial-page loss, no
  fault scheduling; just "everything not fsync'ed is gone".

WHAT IT DOES NOT MODEL (deliberate simplifications)
  - Metadata durability.  create, mknod, mkdir, unlink, rmdir, rename, link,
    symlink, chmod, chown, utimens and truncate/ftruncate are applied to
    BACKING_DIR at once, i.e. they are treated as if they were immediately
    durable.  So after a cut, a file that was created but never fsync'ed
    exists in BACKING_DIR with the size it had at its last truncate/fsync
    (usually 0 bytes): its data is lost, its directory entry is not.  A real
    filesystem may also lose the entry itself unless the directory is
    fsync'ed; that case is not reproduced (fsyncdir is accepted and does
    nothing).  truncate is applied to the backing file and to the in-memory
    copy together, so the two stay consistent.
  - The "disk" never loses what was written to it: on fsync the data is
    pwrite()n to the backing file but the backing file is not itself
    fsync'ed, because the host does not lose power, only this layer does.
  - An fsync is atomic with respect to the cut: a cut arriving during an
    fsync waits until that fsync has written everything.
  - Pages that a client has mmap'ed and that are already in the client's
    kernel page cache stay readable by that client after the cut until it
    unmaps them; only requests that reach the daemon fail with EIO.
  - The backing directory must not be changed behind the mount's back while
    it is mounted (the kernel is allowed to cache pages and attributes).
  - The "cut:" count covers the unsynced bytes of files that still have a
    name; data of unlinked files is dropped too but not counted.
  - Hard links: libfuse's path-based API shows each name to the kernel as a
    separate inode (data stays coherent here, but a cached st_nlink can be
    stale for up to attr_timeout, 1 s).  Send SIGUSR1 only after "ready".
  - renameat2 flags (RENAME_NOREPLACE, RENAME_EXCHANGE) are not passed on by
    the binding and are ignored; extended attributes and file locks over
    FUSE are not implemented (POSIX locks are handled by the client kernel,
    which is what SQLite needs within one client process).

FUSE SETUP
  libfuse3 through the `mfusepy` binding (ctypes; pip package `mfusepy`),
  single-threaded loop (-s): requests are handled one at a time, which
  serialises everything and is correct for any number of client threads.
  A lock still guards the state because the power-cut handler runs in another
  thread.  No direct_io (SQLite mmaps the -wal index, the -shm file) and no
  writeback cache: FUSE's default write-through page cache makes every
  write reach the daemon.  hard_remove is on (no .fuse_hidden files) and
  use_ino passes backing inode numbers through.
  Mounting needs root (or CAP_SYS_ADMIN); libfuse then mounts with mount(2)
  directly and fusermount3 is not needed.  Unmounting is done here with
  umount2(2), plain first and MNT_DETACH if the mount is busy.
"""

from __future__ import annotations

import bisect
import ctypes
import ctypes.util
import errno
import functools
import os
import signal
import stat
import sys
import threading
import time

FUSE_CAP_AUTO_INVAL_DATA = 1 << 12
FUSE_CAP_WRITEBACK_CACHE = 1 << 16
MNT_DETACH = 2
# libfuse (high-level API) hands these over as tv_sec = 0, tv_nsec = UTIME_*;
# mfusepy flattens them to plain nanosecond counts.
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2


def _pin_libfuse3() -> None:
    # mfusepy looks for libfuse2 ("fuse") first; pin libfuse3 so that a later
    # install of libfuse2 cannot change what this fixture runs on.
    if os.environ.get("FUSE_LIBRARY_PATH"):
        return
    path = ctypes.util.find_library("fuse3")
    if path is None:
        for cand in ("/usr/lib/x86_64-linux-gnu/libfuse3.so.3",
                     "/usr/lib/aarch64-linux-gnu/libfuse3.so.3",
                     "/lib/x86_64-linux-gnu/libfuse3.so.3",
                     "/usr/lib/libfuse3.so.3"):
            if os.path.exists(cand):
                path = cand
                break
    if path is None:
        sys.exit("powercut_fs: libfuse3 not found (apt-get install libfuse3-3)")
    os.environ["FUSE_LIBRARY_PATH"] = path


_pin_libfuse3()
import mfusepy  # noqa: E402  (needs FUSE_LIBRARY_PATH set first)

FuseOSError = mfusepy.FuseOSError


class Node:
    """The cached state of one backing inode (a regular file)."""

    __slots__ = ("key", "fd", "refs", "data", "starts", "ends", "mtime_ns", "unlinked")

    def __init__(self, key, fd):
        self.key = key
        self.fd = fd            # O_RDWR fd on the backing file (O_RDONLY if that failed)
        self.refs = 0           # open FUSE file handles
        self.data = None        # bytearray: full current content, once written to
        self.starts = []        # dirty ranges [starts[i], ends[i]), sorted,
        self.ends = []          #   disjoint and non-adjacent
        self.mtime_ns = None    # mtime of the newest buffered change
        self.unlinked = False

    # -- content -------------------------------------------------------
    def _load(self):
        if self.data is None:
            size = os.fstat(self.fd).st_size
            buf = bytearray()
            while len(buf) < size:
                chunk = os.pread(self.fd, min(size - len(buf), 1 << 20), len(buf))
                if not chunk:
                    break
                buf += chunk
            self.data = buf

    def read(self, size, offset):
        if self.data is None:
            return os.pread(self.fd, size, offset)
        return bytes(self.data[offset:offset + size])

    def write(self, buf, offset):
        self._load()
        end = offset + len(buf)
        if offset > len(self.data):
            self.data.extend(bytes(offset - len(self.data)))
        self.data[offset:end] = buf
        self._mark(offset, end)
        self.mtime_ns = time.time_ns()
        return len(buf)

    def truncate(self, length):
        # Metadata: applied to the backing file immediately (see top comment).
        os.ftruncate(self.fd, length)
        if self.data is not None:
            if length < len(self.data):
                del self.data[length:]
                i = bisect.bisect_left(self.starts, length)
                del self.starts[i:]
                del self.ends[i:]
                if self.ends and self.ends[-1] > length:
                    self.ends[-1] = length
            else:
                self.data.extend(bytes(length - len(self.data)))
        self.mtime_ns = time.time_ns()

    def _mark(self, start, end):
        lo = bisect.bisect_left(self.ends, start)     # first range ending at/after start
        hi = bisect.bisect_right(self.starts, end)    # ranges starting at/before end
        if lo < hi:
            start = min(start, self.starts[lo])
            end = max(end, self.ends[hi - 1])
        self.starts[lo:hi] = [start]
        self.ends[lo:hi] = [end]

    def dirty_bytes(self):
        return sum(e - s for s, e in zip(self.starts, self.ends))

    def is_dirty(self):
        return bool(self.starts)

    # -- durability ----------------------------------------------------
    def sync(self):
        if self.data is None:
            return
        view = memoryview(self.data)
        try:
            for s, e in zip(self.starts, self.ends):
                pos = s
                while pos < e:
                    pos += os.pwrite(self.fd, view[pos:e], pos)
        finally:
            view.release()
        if os.fstat(self.fd).st_size != len(self.data):
            os.ftruncate(self.fd, len(self.data))
        self.starts.clear()
        self.ends.clear()
        self.mtime_ns = None

    def discard(self):
        self.data = None
        self.starts.clear()
        self.ends.clear()
        self.mtime_ns = None

    def close(self):
        try:
            os.close(self.fd)
        except OSError:
            pass
        self.fd = -1


def _op(fn):
    """Serialise every operation and fail them all after the cut."""

    @functools.wraps(fn)
    def wrapper(self, *args):
        with self._lock:
            if self._dead:
                raise FuseOSError(errno.EIO)
            return fn(self, *args)

    return wrapper


class PowerCutFS(mfusepy.Operations):
    use_ns = True

    def __init__(self, root: str):
        self.root = os.path.realpath(root)
        self._lock = threading.Lock()
        self._dead = False
        self._nodes: dict[tuple[int, int], Node] = {}
        self._handles: dict[int, Node] = {}
        self._next_fh = 1
        self.on_ready = None

    # -- helpers ---------------------------------------------------------
    def _bp(self, path):
        if path is None:
            raise FuseOSError(errno.ENOENT)
        return os.path.join(self.root, path.lstrip("/"))

    def _node_of_path(self, bp):
        """The cached node of an existing backing path, or None (no creation)."""
        st = os.lstat(bp)
        if not stat.S_ISREG(st.st_mode):
            return None, st
        return self._nodes.get((st.st_dev, st.st_ino)), st

    def _open_handle(self, vfd):
        """Attach a freshly opened backing fd (used only to check access) to
        the node of its inode; returns a new file handle number."""
        try:
            st = os.fstat(vfd)
            key = (st.st_dev, st.st_ino)
            node = self._nodes.get(key)
            if node is None:
                try:
                    fd = os.open(f"/proc/self/fd/{vfd}", os.O_RDWR | os.O_CLOEXEC)
                except OSError:
                    fd = os.dup(vfd)
                node = Node(key, fd)
                self._nodes[key] = node
        finally:
            os.close(vfd)
        node.refs += 1
        fh = self._next_fh
        self._next_fh += 1
        self._handles[fh] = node
        return fh

    def _handle(self, fh):
        node = self._handles.get(fh)
        if node is None:
            raise FuseOSError(errno.EBADF)
        return node

    def _maybe_forget(self, node):
        if node.refs == 0 and (node.unlinked or not node.is_dirty()):
            if self._nodes.get(node.key) is node:
                del self._nodes[node.key]
            node.close()

    def _note_unlink(self, st):
        """Called after the last name of a backing inode may have gone."""
        if st is None or not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
            return
        node = self._nodes.get((st.st_dev, st.st_ino))
        if node is not None:
            node.unlinked = True
            self._maybe_forget(node)

    @staticmethod
    def _statdict(st, node=None):
        d = {
            "st_mode": st.st_mode,
            "st_ino": st.st_ino,
            "st_nlink": st.st_nlink,
            "st_uid": st.st_uid,
            "st_gid": st.st_gid,
            "st_size": st.st_size,
            "st_blocks": st.st_blocks,
            "st_blksize": st.st_blksize,
            "st_rdev": st.st_rdev,
            "st_atime": st.st_atime_ns,
            "st_mtime": st.st_mtime_ns,
            "st_ctime": st.st_ctime_ns,
        }
        if node is not None and node.data is not None:
            d["st_size"] = len(node.data)
            d["st_blocks"] = max(st.st_blocks, (len(node.data) + 511) // 512)
            if node.mtime_ns is not None:
                d["st_mtime"] = d["st_ctime"] = node.mtime_ns
        return d

    # -- lifecycle -------------------------------------------------------
    def init_with_config(self, conn_info, config_3):
        if conn_info is not None:
            # Write-through page cache: every write must reach us.
            conn_info.want &= ~FUSE_CAP_WRITEBACK_CACHE
            # All changes go through this mount, so the kernel's cached pages
            # are always right; do not drop them on every mtime change.
            conn_info.want &= ~FUSE_CAP_AUTO_INVAL_DATA
        if config_3 is not None:
            config_3.direct_io = 0
            config_3.kernel_cache = 0
            config_3.hard_remove = 1
            config_3.use_ino = 1
        if self.on_ready is not None:
            self.on_ready()

    def power_cut(self):
        """Drop every unsynced buffer; returns (bytes, files) dropped, or
        None if the cut had already happened."""
        with self._lock:
            if self._dead:
                return None
            self._dead = True
            nbytes = nfiles = 0
            for node in self._nodes.values():
                # Unlinked files are not counted: their data could never have
                # become durable, and whether the kernel's (asynchronous)
                # release has arrived yet would make the count racy.
                d = 0 if node.unlinked else node.dirty_bytes()
                if d:
                    nbytes += d
                    nfiles += 1
                node.discard()
            return nbytes, nfiles

    # -- attributes ------------------------------------------------------
    @_op
    def getattr(self, path, fh=None):
        if fh is not None and fh in self._handles:
            node = self._handles[fh]
            return self._statdict(os.fstat(node.fd), node)
        node, st = self._node_of_path(self._bp(path))
        return self._statdict(st, node)

    @_op
    def access(self, path, amode):
        if not os.access(self._bp(path), amode):
            raise FuseOSError(errno.EACCES)
        return 0

    @_op
    def chmod(self, path, mode):
        os.chmod(self._bp(path), mode)
        return 0

    @_op
    def chown(self, path, uid, gid):
        os.lchown(self._bp(path), uid, gid)
        return 0

    @_op
    def utimens(self, path, times=None):
        bp = self._bp(path)
        if times is None:
            os.utime(bp, follow_symlinks=False)
            return 0
        atime, mtime = times
        if UTIME_OMIT in (atime, mtime) or UTIME_NOW in (atime, mtime):
            st = os.lstat(bp)
            now = time.time_ns()
            atime = st.st_atime_ns if atime == UTIME_OMIT else now if atime == UTIME_NOW else atime
            mtime = st.st_mtime_ns if mtime == UTIME_OMIT else now if mtime == UTIME_NOW else mtime
        os.utime(bp, ns=(atime, mtime), follow_symlinks=False)
        node, _ = self._node_of_path(bp)
        if node is not None:
            node.mtime_ns = None
        return 0

    @_op
    def truncate(self, path, length, fh=None):
        if fh is not None and fh in self._handles:
            self._handles[fh].truncate(length)
            return 0
        bp = self._bp(path)
        node, _ = self._node_of_path(bp)
        if node is not None:
            node.truncate(length)
        else:
            os.truncate(bp, length)
        return 0

    @_op
    def statfs(self, path):
        sv = os.statvfs(self._bp(path))
        return {k: getattr(sv, k) for k in (
            "f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail",
            "f_files", "f_ffree", "f_favail", "f_flag", "f_namemax")}

    # -- namespace (applied to the backing dir at once) --------------------
    @_op
    def readdir(self, path, fh):
        # With use_ino the inode number is taken from here, and readdir(3)
        # hides entries whose d_ino is 0: always pass mode and inode.
        bp = self._bp(path)
        out = []
        for name in (".", ".."):
            st = os.lstat(os.path.join(bp, name))
            out.append((name, {"st_mode": st.st_mode, "st_ino": st.st_ino}, 0))
        with os.scandir(bp) as it:
            for e in it:
                try:
                    mode = e.stat(follow_symlinks=False).st_mode
                except OSError:
                    continue
                out.append((e.name, {"st_mode": mode, "st_ino": e.inode()}, 0))
        return out

    @_op
    def readlink(self, path):
        return os.readlink(self._bp(path))

    @_op
    def mknod(self, path, mode, dev):
        os.mknod(self._bp(path), mode, dev)
        return 0

    @_op
    def mkdir(self, path, mode):
        os.mkdir(self._bp(path), mode)
        return 0

    @_op
    def rmdir(self, path):
        os.rmdir(self._bp(path))
        return 0

    @_op
    def unlink(self, path):
        bp = self._bp(path)
        st = os.lstat(bp)
        os.unlink(bp)
        self._note_unlink(st)
        return 0

    @_op
    def rename(self, old, new):
        bnew = self._bp(new)
        try:
            st = os.lstat(bnew)
        except FileNotFoundError:
            st = None
        os.rename(self._bp(old), bnew)
        self._note_unlink(st)
        return 0

    @_op
    def link(self, target, source):
        os.link(self._bp(source), self._bp(target))
        return 0

    @_op
    def symlink(self, target, source):
        os.symlink(source, self._bp(target))
        return 0

    # -- file data -------------------------------------------------------
    _PASS_FLAGS = os.O_ACCMODE | os.O_NOFOLLOW | os.O_NOATIME

    @_op
    def create(self, path, mode, flags=os.O_WRONLY):
        bp = self._bp(path)
        vfd = os.open(bp, (flags & self._PASS_FLAGS) | os.O_CREAT | (flags & os.O_EXCL)
                      | os.O_CLOEXEC, mode)
        fh = self._open_handle(vfd)
        if flags & os.O_TRUNC:
            self._handles[fh].truncate(0)
        return fh

    @_op
    def open(self, path, flags):
        vfd = os.open(self._bp(path), (flags & self._PASS_FLAGS) | os.O_CLOEXEC)
        fh = self._open_handle(vfd)
        if flags & os.O_TRUNC:
            self._handles[fh].truncate(0)
        return fh

    @_op
    def read(self, path, size, offset, fh):
        return self._handle(fh).read(size, offset)

    @_op
    def write(self, path, data, offset, fh):
        return self._handle(fh).write(data, offset)

    @_op
    def fsync(self, path, datasync, fh):
        self._handle(fh).sync()
        return 0

    @_op
    def fsyncdir(self, path, datasync, fh):
        return 0  # directory changes were applied at once (see top comment)

    @_op
    def flush(self, path, fh):
        self._handle(fh)
        return 0  # close() does not make data durable

    def release(self, path, fh):
        with self._lock:
            node = self._handles.pop(fh, None)
            if node is None or self._dead:
                return 0
            node.refs -= 1
            self._maybe_forget(node)
            return 0


_libc = ctypes.CDLL(None, use_errno=True)
_libc.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)


def unmount(mountpoint: str) -> str:
    """Unmount; lazily (MNT_DETACH) if busy.  Returns what happened."""
    mp = os.fsencode(mountpoint)
    if _libc.umount2(mp, 0) == 0:
        return "unmounted"
    err = ctypes.get_errno()
    if err == errno.EBUSY and _libc.umount2(mp, MNT_DETACH) == 0:
        return "detached (busy)"
    err = ctypes.get_errno()
    return f"umount failed: {os.strerror(err)}"


def main(argv: list[str]) -> int:
    args = [a for a in argv[1:] if not a.startswith("--")]
    debug = "--debug" in argv[1:]
    if len(args) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    backing, mountpoint = (os.path.realpath(a) for a in args)
    if not os.path.isdir(backing) or not os.path.isdir(mountpoint):
        print("powercut_fs: BACKING_DIR and MOUNTPOINT must be directories", file=sys.stderr)
        return 2
    if mountpoint == backing or mountpoint.startswith(backing + os.sep) \
            or backing.startswith(mountpoint + os.sep):
        print("powercut_fs: BACKING_DIR and MOUNTPOINT must not contain each other",
              file=sys.stderr)
        return 2

    # The kernel has already applied the client's umask to create/mkdir
    # modes; do not apply ours a second time.
    os.umask(0)
    fs = PowerCutFS(backing)
    stopping = threading.Event()

    def say(line):
        # A reader that went away must not stop the cut, the umount or the exit.
        try:
            print(line, flush=True)
        except (OSError, ValueError):
            pass

    def on_ready():
        say("ready")

    fs.on_ready = on_ready

    # Signals are taken by a dedicated thread with sigwait(): the main thread
    # sits inside libfuse's C loop, where Python signal handlers would not run.
    sigs = {signal.SIGUSR1, signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
    signal.pthread_sigmask(signal.SIG_BLOCK, sigs)

    def watcher():
        sig = signal.sigwait(sigs)
        stopping.set()
        dropped = fs.power_cut()
        if sig == signal.SIGUSR1:
            nbytes, nfiles = dropped if dropped is not None else (0, 0)
            say(f"cut: dropped {nbytes} bytes in {nfiles} files")
        how = unmount(mountpoint)
        if debug or how.startswith("umount failed"):
            try:
                print(f"powercut_fs: {signal.Signals(sig).name}: {how}", file=sys.stderr, flush=True)
            except (OSError, ValueError):
                pass
        # Exit at once: closing /dev/fuse aborts the connection even if a
        # client still holds files open on the detached mount.
        os._exit(0)

    threading.Thread(target=watcher, name="powercut-signals", daemon=True).start()

    try:
        mfusepy.FUSE(fs, mountpoint, foreground=True, nothreads=True, debug=debug,
                     fsname="powercut_fs", hard_remove=True, use_ino=True)
    except RuntimeError as e:
        if not stopping.is_set():
            print(f"powercut_fs: FUSE failed: {e}", file=sys.stderr, flush=True)
            return 1
    if stopping.is_set():
        threading.Event().wait()  # the watcher thread exits the process
    # Unmounted from outside: a clean stop, but unsynced data is still lost.
    dropped = fs.power_cut()
    if dropped is not None and dropped[0]:
        print(f"powercut_fs: unmounted externally; dropped {dropped[0]} unsynced bytes "
              f"in {dropped[1]} files", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
