#!/usr/bin/python3
# A FUSE file system for the EIO test: one file, data.bin, 1 MiB, readable; every write fails
# with EIO, as a failing disk would make them fail. usage: eiofs.py MOUNTPOINT
import errno, os, stat, sys, time
from fusepy import FUSE, FuseOSError, Operations

SIZE = 1 << 20

class EIOFS(Operations):
    """One file, data.bin: reads return its bytes; every write fails with EIO."""
    def __init__(self):
        self.data = bytearray(SIZE)
    def getattr(self, path, fh=None):
        now = time.time()
        if path == "/":
            return dict(st_mode=stat.S_IFDIR | 0o755, st_nlink=2, st_ctime=now, st_mtime=now, st_atime=now)
        if path == "/data.bin":
            return dict(st_mode=stat.S_IFREG | 0o666, st_nlink=1, st_size=SIZE, st_ctime=now, st_mtime=now, st_atime=now)
        raise FuseOSError(errno.ENOENT)
    def readdir(self, path, fh):
        return [".", "..", "data.bin"]
    def open(self, path, flags):
        return 0
    def read(self, path, size, offset, fh):
        return bytes(self.data[offset:offset + size])
    def write(self, path, data, offset, fh):
        raise FuseOSError(errno.EIO)
    def truncate(self, path, length, fh=None):
        raise FuseOSError(errno.EIO)

if __name__ == "__main__":
    FUSE(EIOFS(), sys.argv[1], foreground=True, nothreads=True)
