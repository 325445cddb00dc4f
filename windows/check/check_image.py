"""The shape of ndis_rwlock.sys, read with pefile (scripts/windows-check.sh, step `image`).

    check_image.py IMAGE --def windows/ndis_rwlock.def --imports windows/check/ntoskrnl.def

Checks: an x64 native-subsystem driver image with the link flags of the Windows build;
imports exactly the routines of the ntoskrnl .def, from ntoskrnl.exe only; exports exactly
the routines of windows/ndis_rwlock.def (the one list of exports) under the name
ndis_rwlock.sys, and no runtime symbols. Exits 1 with every failed check listed.
"""

import argparse
import sys

import pefile

from deffile import def_exports

MACHINE_AMD64 = 0x8664
SUBSYSTEM_NATIVE = 1
# IMAGE_DLLCHARACTERISTICS_* of the link flags: /DYNAMICBASE, /INTEGRITYCHECK, /NXCOMPAT.
# (Plain /DRIVER, as wdk-build passes it, sets no flag; /DRIVER:WDM would set WDM_DRIVER.)
DLL_CHARACTERISTICS = {
    0x0040: "DYNAMIC_BASE",
    0x0080: "FORCE_INTEGRITY",
    0x0100: "NX_COMPAT",
}
IMAGE_DIRECTORY_ENTRY_BASERELOC = 5
IMAGE_SCN_MEM_EXECUTE = 0x20000000
IMAGE_SCN_MEM_WRITE = 0x80000000
# What the Rust crates mark as exported and the image must not export.
RUNTIME_SYMBOLS = {
    "_fltused",
    "__CxxFrameHandler3",
    "__CxxFrameHandler4",
    "__GSHandlerCheck_EH4",
    "DriverEntry",
}


def check(image_path, def_path, imports_path):
    failures = []
    pe = pefile.PE(image_path)

    if pe.FILE_HEADER.Machine != MACHINE_AMD64:
        failures.append(f"machine {pe.FILE_HEADER.Machine:#x}, expected AMD64")
    if pe.OPTIONAL_HEADER.Subsystem != SUBSYSTEM_NATIVE:
        failures.append(f"subsystem {pe.OPTIONAL_HEADER.Subsystem}, expected NATIVE (1)")
    for flag, name in DLL_CHARACTERISTICS.items():
        if not pe.OPTIONAL_HEADER.DllCharacteristics & flag:
            failures.append(f"DllCharacteristics lacks {name}")
    if pe.OPTIONAL_HEADER.AddressOfEntryPoint == 0:
        failures.append("no entry point (FxDriverEntry)")
    if pe.OPTIONAL_HEADER.DATA_DIRECTORY[IMAGE_DIRECTORY_ENTRY_BASERELOC].Size == 0:
        failures.append("no base relocations: the kernel loads drivers at any address")
    for section in pe.sections:
        if section.Characteristics & IMAGE_SCN_MEM_EXECUTE and section.Characteristics & IMAGE_SCN_MEM_WRITE:
            name = section.Name.rstrip(b"\0").decode()
            failures.append(f"section {name} is writable and executable")

    expected_imports = set(def_exports(imports_path))
    imports = {}
    for entry in getattr(pe, "DIRECTORY_ENTRY_IMPORT", []):
        dll = entry.dll.decode()
        imports.setdefault(dll.lower(), set()).update(
            symbol.name.decode() if symbol.name else f"#{symbol.ordinal}" for symbol in entry.imports
        )
    other_dlls = sorted(set(imports) - {"ntoskrnl.exe"})
    if other_dlls:
        failures.append(f"imports from {other_dlls}; only ntoskrnl.exe is expected")
    kernel_imports = imports.get("ntoskrnl.exe", set())
    if kernel_imports != expected_imports:
        if kernel_imports - expected_imports:
            failures.append(f"unexpected imports: {sorted(kernel_imports - expected_imports)}")
        if expected_imports - kernel_imports:
            failures.append(f"expected imports not imported: {sorted(expected_imports - kernel_imports)}")

    expected_exports = set(def_exports(def_path))
    directory = getattr(pe, "DIRECTORY_ENTRY_EXPORT", None)
    if directory is None:
        failures.append("no export directory")
    else:
        name = directory.name.decode() if directory.name else None
        if name != "ndis_rwlock.sys":
            failures.append(f"export directory names the image {name!r}, importers load 'ndis_rwlock.sys'")
        exports = {symbol.name.decode() for symbol in directory.symbols if symbol.name}
        if exports & RUNTIME_SYMBOLS:
            failures.append(f"runtime symbols exported: {sorted(exports & RUNTIME_SYMBOLS)}")
        if exports - expected_exports:
            failures.append(f"unexpected exports: {sorted(exports - expected_exports)}")
        if expected_exports - exports:
            failures.append(f"missing exports: {sorted(expected_exports - exports)}")

    if failures:
        for failure in failures:
            print(f"image: FAILED: {failure}")
        return 1
    print(
        f"image: x64 native driver, {len(kernel_imports)} imports from ntoskrnl.exe, "
        f"{len(expected_exports)} exports of ndis_rwlock.sys as listed in {def_path.rsplit('/', 1)[-1]}"
    )
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image")
    parser.add_argument("--def", dest="def_path", required=True)
    parser.add_argument("--imports", required=True)
    args = parser.parse_args()
    sys.exit(check(args.image, args.def_path, args.imports))


if __name__ == "__main__":
    main()
