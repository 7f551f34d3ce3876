"""Strip symbol tables from a built bundle's shared libraries, where that is safe.

    python packaging/strip_libraries.py dist/thighmap

Symbol tables are of no use at run time. Each ELF file under the folder that still has one
is stripped (`strip --strip-unneeded`) into a temporary copy, and the copy replaces the
original only when the dynamic loader will still map it: every loadable segment's file
offset and address agree modulo the page size, as glibc requires. Libraries that
auditwheel rewrote with patchelf (numpy's OpenBLAS among them) come out of `strip` with
segments that break this rule ("ELF load command address/offset not page-aligned") and
are kept as they are. Prints what stripping saved by component (the first folder under
`_internal/`), in MB.
"""

from __future__ import annotations

import collections
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

PAGE_BYTES = 4096  # x86-64 Linux; a larger page size only makes the check stricter
PT_LOAD = 1


def is_elf(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) == b"\x7fELF"


def has_symbol_table(path: Path) -> bool:
    out = subprocess.run(["readelf", "-S", "-W", str(path)], capture_output=True, text=True)
    return out.returncode == 0 and " .symtab " in out.stdout


def segments_load(path: Path) -> bool:
    """Whether the loader can map every PT_LOAD segment (64-bit little-endian ELF only)."""
    data = path.read_bytes()
    if data[4] != 2 or data[5] != 1:  # ELFCLASS64, ELFDATA2LSB
        return False
    (phoff,) = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    for i in range(phnum):
        p_type, _flags, p_offset, p_vaddr, _paddr, _filesz, _memsz, p_align = struct.unpack_from(
            "<IIQQQQQQ", data, phoff + i * phentsize
        )
        if p_type != PT_LOAD:
            continue
        if p_align % PAGE_BYTES or (p_vaddr - p_offset) % PAGE_BYTES:
            return False
    return True


def component(path: Path, root: Path) -> str:
    parts = path.relative_to(root).parts
    return parts[0] if len(parts) > 1 else "(top level)"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python packaging/strip_libraries.py BUNDLE_FOLDER", file=sys.stderr)
        return 2
    bundle = Path(argv[0])
    if shutil.which("strip") is None or shutil.which("readelf") is None:
        print("strip_libraries: binutils (strip, readelf) not installed: symbol tables kept", file=sys.stderr)
        return 0
    internal = bundle / "_internal"
    saved: collections.Counter[str] = collections.Counter()
    kept: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        stripped = Path(tmp) / "stripped"
        for path in sorted(internal.rglob("*")):
            if path.is_symlink() or not path.is_file() or ".so" not in path.name or not is_elf(path):
                continue
            if not has_symbol_table(path):
                continue
            done = subprocess.run(["strip", "--strip-unneeded", "-o", str(stripped), str(path)])
            if done.returncode != 0 or not segments_load(stripped):
                kept.append(str(path.relative_to(internal)))
                continue
            before = path.stat().st_size
            shutil.copymode(path, stripped)
            os.replace(stripped, path)
            saved[component(path, internal)] += before - path.stat().st_size
    print("stripped symbol tables, MB saved by component:")
    for name, count in saved.most_common():
        print(f"  {name:24} {count / 2**20:6.1f}")
    print(f"  {'total':24} {sum(saved.values()) / 2**20:6.1f}")
    if kept:
        print("kept unstripped (stripping would move their segments off the page grid):")
        for name in kept:
            print(f"  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
