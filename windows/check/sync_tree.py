"""Brings the checked copy of the tree up to date (scripts/windows-check.sh).

    sync_tree.py SOURCE COPY < NUL-separated file list

Copies each listed file whose content differs from the copy's, with the current time as its
modification time, and deletes the copy's files that are not listed. Unchanged files keep
their times, so cargo rebuilds only what changed; a file restored after an injected fault
(inject.py) is newer than the build that saw the fault, so cargo rebuilds it too.
"""

import os
import shutil
import sys


def main():
    source, copy = sys.argv[1], sys.argv[2]
    listed = {name for name in sys.stdin.buffer.read().decode().split("\0") if name}
    for name in listed:
        origin = os.path.join(source, name)
        target = os.path.join(copy, name)
        if not os.path.isfile(origin):
            continue  # deleted in the working tree, not yet in the index
        with open(origin, "rb") as file:
            content = file.read()
        try:
            with open(target, "rb") as file:
                if file.read() == content:
                    continue
        except FileNotFoundError:
            os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as file:
            file.write(content)
        shutil.copymode(origin, target)
    for directory, _, files in os.walk(copy, topdown=False):
        for file in files:
            path = os.path.join(directory, file)
            relative = os.path.relpath(path, copy)
            if relative not in listed and relative != "Cargo.lock":
                os.remove(path)
        if directory != copy and not os.listdir(directory):
            os.rmdir(directory)


if __name__ == "__main__":
    main()
