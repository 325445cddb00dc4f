"""Makes a test copy of an image whose imports from one module come from another
(windows/check/wine/run.sh): Wine binds imports by file name.

    retarget.py IMAGE COPY FROM TO

TO must be no longer than FROM: the name is rewritten in place in the import directory.
"""

import sys

import pefile


def main():
    image, copy, old, new = sys.argv[1:5]
    if len(new) > len(old):
        sys.exit(f"retarget: {new} is longer than {old}")
    pe = pefile.PE(image)
    found = False
    for entry in pe.DIRECTORY_ENTRY_IMPORT:
        if entry.dll.decode().lower() == old.lower():
            offset = pe.get_offset_from_rva(entry.struct.Name)
            pe.set_bytes_at_offset(offset, new.encode().ljust(len(old), b"\0"))
            found = True
    if not found:
        sys.exit(f"retarget: {image} imports nothing from {old}")
    pe.write(copy)


if __name__ == "__main__":
    main()
