#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""extract-vmlinux.py VMLINUZ OUT - write the uncompressed ELF kernel held in a bzImage.

Debian's vmlinuz is a bzImage whose payload is the ELF vmlinux compressed with xz (6.1) or
zstd (6.12). QEMU boots the ELF through its PVH note much faster than the bzImage under TCG.
We look for each compressed-stream magic, try to decompress from there and keep the first
result that is an ELF file.
"""
import lzma
import subprocess
import sys

XZ_MAGIC = b"\xfd7zXZ\x00"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def offsets(data, magic):
    pos = data.find(magic)
    while pos >= 0:
        yield pos
        pos = data.find(magic, pos + 1)


def try_xz(data):
    try:
        return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data)
    except lzma.LZMAError:
        return b""


def try_zstd(data):
    # zstd complains about the bytes that follow the frame; the frame itself is complete.
    proc = subprocess.run(["zstd", "-dcq"], input=data, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, check=False)
    return proc.stdout


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: extract-vmlinux.py VMLINUZ OUT")
    with open(sys.argv[1], "rb") as f:
        data = f.read()
    for magic, fn in ((XZ_MAGIC, try_xz), (ZSTD_MAGIC, try_zstd)):
        for off in offsets(data, magic):
            out = fn(data[off:])
            if out[:4] == b"\x7fELF":
                with open(sys.argv[2], "wb") as f:
                    f.write(out)
                return
    sys.exit(f"extract-vmlinux.py: no xz or zstd compressed ELF found in {sys.argv[1]}")


if __name__ == "__main__":
    main()
