#!/usr/bin/env bash
# lld-link-16 as the linker of the Linux check (scripts/windows-check.sh), with the one
# behaviour of MSVC's link.exe that the Windows build relies on and lld-link does not share:
# a .def file's `LIBRARY name` is the image's internal name, the name in its export
# directory, whatever /OUT says (learn.microsoft.com/cpp/build/reference/library: "the library
# argument specifies the internal name of the DLL; use /OUT to specify the DLL's output
# name"). lld-link names the export directory after the output file, so this links to a file
# of the LIBRARY name (of the last /DEF, the one the linker uses) and copies it to /OUT.
set -euo pipefail
args=("$@")
# rustc passes long command lines in a response file: @file, one argument a line, quoted.
if [[ ${#args[@]} -eq 1 && ${args[0]} == @* ]]; then
  mapfile -t args < <(sed -e 's/^"//' -e 's/"$//' "${args[0]#@}")
fi
out="" def=""
for arg in "${args[@]}"; do
  case "$arg" in
    /OUT:* | -out:* | /out:*) out="${arg#*:}" ;;
    /DEF:* | -def:* | /def:*) def="${arg#*:}" ;;
  esac
done
library=""
[[ -n "$def" ]] && library="$(sed -n 's/^[[:space:]]*LIBRARY[[:space:]]\+\([^[:space:];]\+\).*/\1/p' "$def" | head -n 1)"
if [[ -z "$out" || -z "$library" || "$(basename "$out")" == "$library" ]]; then
  exec lld-link-16 "${args[@]}"
fi
internal="$(dirname "$out")/$library"
lld-link-16 "${args[@]}" "/OUT:$internal"
cp "$internal" "$out"
