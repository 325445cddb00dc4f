"""Reads the EXPORTS of a module-definition (.def) file: the one list of the image's exports
(windows/ndis_rwlock.def) and of the kernel routines it may import (windows/check/ntoskrnl.def).
"""


def def_exports(path):
    """The exported names, in file order (comments, ordinals and keywords such as PRIVATE
    dropped)."""
    names = []
    in_exports = False
    with open(path, encoding="utf-8") as file:
        for line in file:
            line = line.split(";", 1)[0].strip()
            if not line:
                continue
            keyword = line.split()[0]
            if keyword.upper() in {"LIBRARY", "NAME", "DESCRIPTION", "HEAPSIZE", "STACKSIZE", "SECTIONS"}:
                in_exports = False
            elif keyword.upper() == "EXPORTS":
                in_exports = True
            elif in_exports:
                names.append(keyword.split("=", 1)[0])
    return names
