#!/usr/bin/env bash
# The Wine load of ndis_rwlock.sys (scripts/windows-check.sh, step `wine`).
#
#   run.sh IMAGE WORKDIR PYTHON
#
# Builds, with Debian's mingw-w64, the kernel shim (shim.c, exporting every routine of
# windows/check/ntoskrnl.def) and the test driver (test.c); makes a test copy of IMAGE that
# imports from the shim (retarget.py); then, in a fresh Wine prefix, registers the test driver
# as a kernel service and starts it with `net start`: winedevice.exe loads it, which loads the
# test copy and the shim, and runs DriverEntry. Passes when DriverEntry reports PASSED.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
check="$(dirname "$here")"
root="$(cd "$check/../.." && pwd)"
image="$1" python="$3"
mkdir -p "$2"
work="$(cd "$2" && pwd)"
build="$work/build"
mkdir -p "$build"

# The shim's exports: every routine ndis_rwlock.sys may import, as shim_<name>, and the
# violation counter the test driver reads.
"$python" - "$check/ntoskrnl.def" > "$build/ntosshim.def" <<'PY'
import sys
sys.path.insert(0, sys.argv[1].rsplit("/", 1)[0])
from deffile import def_exports
print("LIBRARY ntosshim.sys\nEXPORTS")
for name in def_exports(sys.argv[1]):
    print(f"    {name}=shim_{name}")
print("    NdisRwShimViolations")
PY
cc=(x86_64-w64-mingw32-gcc -O2 -std=gnu11 -Wall -Wextra -Werror -ffreestanding -fno-stack-protector
    -I "$root/include" -nostdlib -shared -Wl,--subsystem,native -Wl,--dynamicbase)
"${cc[@]}" -o "$build/ntosshim.sys" "$here/shim.c" "$build/ntosshim.def" -Wl,-e,ShimEntry \
  -lntoskrnl -lkernel32 -lgcc
x86_64-w64-mingw32-dlltool -d "$build/ntosshim.def" -l "$build/libntosshim.a"
x86_64-w64-mingw32-dlltool -d "$root/windows/ndis_rwlock.def" -l "$build/libndis_rwlock.a"
"${cc[@]}" -o "$build/ndisrwtest.sys" "$here/test.c" -Wl,-e,DriverEntry -L "$build" \
  -lndis_rwlock -lntosshim -lgcc
"$python" "$here/retarget.py" "$image" "$build/ndis_rwlock.sys" ntoskrnl.exe ntosshim.sys

# A fresh prefix, headless; no Mono/Gecko installs.
export WINEPREFIX="$work/prefix" WINEARCH=win64 WINEDEBUG=-all,warn+debugstr DISPLAY="" \
  WINEDLLOVERRIDES="mscoree,mshtml=" WINESERVER=/usr/lib/wine/wineserver64
wine=/usr/lib/wine/wine64
log="$work/wine.log"
rm -rf "$WINEPREFIX" "$log"
"$WINESERVER" -k 2>/dev/null || true
"$wine" wineboot -i >>"$log" 2>&1
drivers="$WINEPREFIX/drive_c/windows/system32/drivers"
cp "$build/ndisrwtest.sys" "$build/ndis_rwlock.sys" "$build/ntosshim.sys" "$drivers/"
cp "$build/ndis_rwlock.sys" "$build/ntosshim.sys" "$WINEPREFIX/drive_c/windows/system32/"
key='HKLM\System\CurrentControlSet\Services\ndisrwtest'
"$wine" reg add "$key" /v Type /t REG_DWORD /d 1 /f >>"$log" 2>&1
"$wine" reg add "$key" /v Start /t REG_DWORD /d 3 /f >>"$log" 2>&1
"$wine" reg add "$key" /v ErrorControl /t REG_DWORD /d 1 /f >>"$log" 2>&1
"$wine" reg add "$key" /v ImagePath /t REG_EXPAND_SZ /d 'C:\windows\system32\drivers\ndisrwtest.sys' /f >>"$log" 2>&1
# services.exe reads the service keys when it starts: restart the prefix's session.
"$WINESERVER" -w
status=0
timeout 120 "$wine" net start ndisrwtest >>"$log" 2>&1 || status=$?
"$WINESERVER" -k 2>/dev/null || true
grep -a "ndisrwtest:\|ntosshim:" "$log" || true
if [[ $status -ne 0 ]] || ! grep -aq "ndisrwtest: PASSED" "$log"; then
  echo "wine: FAILED (net start exit $status); log: $log" >&2
  exit 1
fi
echo "wine: ndis_rwlock.sys loaded by a test driver in Wine, every lock kind passed"
