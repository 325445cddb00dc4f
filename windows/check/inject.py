"""Injects a fault into the checked copy of the tree, to show that the Windows check fails
(scripts/windows-check.sh --inject FAULT). Never run on the checkout itself.

    inject.py COPY FAULT

FAULT, and the step that must turn red:
    misspelt-routine    KeLowerIrql called as KeLowerIrq             check (compile error)
    wrong-arg-type      KeQueryMaximumProcessorCountEx given a u32   check (type mismatch)
    missing-export      NdisRwlFreePushLock no longer exported       link (the .def lists it)
    irql-not-restored   NdisReleaseRWLock keeps DISPATCH_LEVEL       emulate (IRQL not restored)
"""

import pathlib
import re
import sys

FAULTS = {
    "misspelt-routine": (r"ntddk::KeLowerIrql\(", "ntddk::KeLowerIrq("),
    "wrong-arg-type": (
        r"KeQueryMaximumProcessorCountEx\(wdk_sys::ALL_PROCESSOR_GROUPS as u16\)",
        "KeQueryMaximumProcessorCountEx(wdk_sys::ALL_PROCESSOR_GROUPS as u32)",
    ),
    "missing-export": (
        r"#\[unsafe\(no_mangle\)\]\n(pub unsafe extern \"system\" fn NdisRwlFreePushLock)",
        r"#[allow(non_snake_case)]\n\1",
    ),
    "irql-not-restored": (
        r"unsafe \{ \w+::leave::<K>\(Entry::Raised\(value\.old_irql\)\) \};",
        "let _ = value.old_irql;",
    ),
}


def main():
    copy, fault = pathlib.Path(sys.argv[1]), sys.argv[2]
    if fault not in FAULTS:
        sys.exit(f"inject: unknown fault {fault!r}; one of {', '.join(FAULTS)}")
    if (copy / ".git").exists():
        sys.exit("inject: refusing to edit a checkout; give the copy of the tree")
    pattern, replacement = FAULTS[fault]
    for path in sorted((copy / "src").rglob("*.rs")):
        text = path.read_text()
        changed, count = re.subn(pattern, replacement, text, count=1)
        if count:
            path.write_text(changed)
            print(f"inject: {fault} in {path.relative_to(copy)}")
            return
    sys.exit(f"inject: the code that {fault} edits was not found under src/: update inject.py")


if __name__ == "__main__":
    main()
