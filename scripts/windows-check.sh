#!/usr/bin/env bash
# The Windows build, checked on Linux (README.md, section Windows): cross-compile, link and run
# the driver's exports without Windows or the WDK.
#
#   scripts/windows-check.sh [--inject FAULT] [--only STEPS]
#
# Steps (all by default; --only takes a comma-separated subset, and the steps after `link` then
# use the image the last link left):
#   check    cargo clippy -D warnings (which type-checks, as cargo check does) of the library,
#            the library with `--features driver` and the consumer driver
#            (examples/consumer-driver), for x86_64- and aarch64-pc-windows-msvc.
#   link     `--features driver --release` linked with lld-link into
#            target/windows-check/ndis_rwlock.sys, with the flags and the .def of the
#            Windows build.
#   image    the image's shape, imports and exports (pefile; windows/check/check_image.py).
#   emulate  DllInitialize, every export and DllUnload run in speakeasy with kernel hooks
#            (windows/check/emulate.py).
#   wine     the image loaded in Wine by a test driver (windows/check/wine/).
#
# --inject FAULT edits the checked copy of the tree (never the checkout) to show that the check
# fails: misspelt-routine, wrong-arg-type, missing-export, irql-not-restored.
#
# The stand-ins for wdk-sys and wdk-build (windows/check/) are passed with
# `--config patch.crates-io...` to a copy of the tree in target/windows-check/tree, which has
# its own Cargo.lock: the checkout is never modified. Installs what it needs (Debian packages,
# a Python virtual environment in target/windows-check/venv) when missing.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/target/windows-check"
tree="$out/tree"
inject=""
only="check,link,image,emulate,wine"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --inject) inject="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    *) echo "usage: $0 [--inject FAULT] [--only check,link,image,emulate,wine]" >&2; exit 2 ;;
  esac
done
wants() { [[ ",$only," == *",$1,"* ]]; }
step() { printf '== windows-check: %s (%ds)\n' "$1" "$SECONDS"; }

# ---- Tools ----------------------------------------------------------------------------------
# Debian's rustc-web/cargo-web (Rust 1.96 with rust-web-src) build core and alloc for the
# Windows targets with -Zbuild-std; lld-16 links; llvm-16 has llvm-dlltool and llvm-mc;
# wine64 and mingw-w64 run the Wine load.
packages=(rustc-web cargo-web rust-web-src rust-web-clippy lld-16 llvm-16 wine64 mingw-w64 python3-venv)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  step "installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
venv="$out/venv"
if ! "$venv/bin/python" -c 'import speakeasy, pefile' 2>/dev/null; then
  step "Python environment (speakeasy-emulator, pefile)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q speakeasy-emulator==1.5.11 pefile==2024.8.26
fi

# ---- The checked copy of the tree -------------------------------------------------------------
# Tracked and untracked (not ignored) files of the working tree; only changed files are
# rewritten, so that cargo rebuilds only what changed. wdk-sys's published sources come from
# the registry copy that `cargo fetch` puts in CARGO_HOME (the lock file pins the version).
mkdir -p "$out"
(cd "$root" && cargo fetch --locked -q)
mkdir -p "$tree"
(cd "$root" && git ls-files -z --cached --others --exclude-standard) |
  python3 "$root/windows/check/sync_tree.py" "$root" "$tree"
if [[ -n "$inject" ]]; then
  "$venv/bin/python" "$root/windows/check/inject.py" "$tree" "$inject"
fi
registry_wdk_sys="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/wdk-sys-0.5.2 | head -n 1)"
standin="$out/wdk-sys"
mkdir -p "$standin"
cp -p "$tree/windows/check/wdk-sys/Cargo.toml" "$tree/windows/check/wdk-sys/build.rs" "$standin/"
rm -rf "$standin/src"
cp -rp "$registry_wdk_sys/src" "$standin/src"
grep -q 'driver-type = "KMDF"' "$tree/Cargo.toml" || {
  echo "windows-check: the stand-in wdk-build configures KMDF, Cargo.toml no longer does" >&2
  exit 1
}
# The Cargo.lock with the stand-ins patched in, kept from the last run when the checkout's
# lock is unchanged (saves resolving again).
if [[ -f "$out/Cargo.lock.patched" ]] && cmp -s "$root/Cargo.lock" "$out/Cargo.lock.source"; then
  cp -p "$out/Cargo.lock.patched" "$tree/Cargo.lock"
fi

export PATH="/usr/bin:$PATH" RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1
unset RUSTC_WRAPPER RUSTC_WORKSPACE_WRAPPER RUSTFLAGS CARGO_ENCODED_RUSTFLAGS
export CARGO_TARGET_DIR="$out/cargo" NDIS_RWLOCK_WDK_BINDINGS="$tree/windows/check/bindings"
cargo_windows() {
  (cd "$tree" && cargo "$1" \
    --config "patch.crates-io.wdk-sys.path=\"$standin\"" \
    --config "patch.crates-io.wdk-build.path=\"$tree/windows/check/wdk-build\"" \
    -Zbuild-std=core,alloc "${@:2}")
}
# wdk-macros caches the WDF function table types it read from wdk-sys's types.rs and never
# reads them again: drop the cache so that a change of the stand-in bindings is seen.
find "$CARGO_TARGET_DIR" -name cached_function_info_map.json -delete 2>/dev/null || true

# ---- check ------------------------------------------------------------------------------------
if wants check; then
  for target in x86_64-pc-windows-msvc aarch64-pc-windows-msvc; do
    step "cargo clippy -D warnings, $target: the library and the consumer driver"
    cargo_windows clippy -q --target "$target" --workspace --lib -- -D warnings
    step "cargo clippy -D warnings, $target: the library with --features driver"
    cargo_windows clippy -q --target "$target" -p ndis-rwlock --lib --features driver -- -D warnings
  done
  cp -p "$root/Cargo.lock" "$out/Cargo.lock.source"
  cp -p "$tree/Cargo.lock" "$out/Cargo.lock.patched"
fi

# ---- link -------------------------------------------------------------------------------------
if wants link; then
  step "link ndis_rwlock.sys (lld-link-16, as link.exe names exports)"
  lib="$out/lib"
  mkdir -p "$lib"
  check="$tree/windows/check"
  # ntoskrnl.lib: the routines the image may import. WdfDriverEntry.lib: FxDriverEntry and the
  # WDF variables (wdf-entry.s). The other libraries wdk-sys names have nothing the image uses:
  # empty archives.
  llvm-dlltool-16 -m i386:x86-64 -d "$check/ntoskrnl.def" -l "$lib/ntoskrnl.lib"
  llvm-mc-16 -filetype=obj -triple=x86_64-pc-windows-msvc "$check/wdf-entry.s" -o "$lib/wdf-entry.obj"
  rm -f "$lib/WdfDriverEntry.lib"
  llvm-ar-16 rcs "$lib/WdfDriverEntry.lib" "$lib/wdf-entry.obj"
  for empty in hal wmilib WdfLdr BufferOverflowFastFailK; do
    rm -f "$lib/$empty.lib"
    llvm-ar-16 rcs "$lib/$empty.lib"
  done
  # The flags wdk-build 0.6.0 emits for a KMDF driver (`Config::configure_binary_build`) and
  # the .def that build.rs adds for the `driver` feature. No /FORCE: an unresolved symbol
  # fails the link.
  link_args=(
    /DRIVER /NODEFAULTLIB /SUBSYSTEM:NATIVE /KERNEL /ENTRY:FxDriverEntry /IGNORE:4257
    /NXCOMPAT /DYNAMICBASE /MAP /MAPINFO:EXPORTS /OPT:REF,ICF /INTEGRITYCHECK /MANIFEST:NO
    "/DEF:$tree/windows/ndis_rwlock.def"
  )
  rustc_args=(-L "native=$lib")
  for arg in "${link_args[@]}"; do rustc_args+=(-C "link-arg=$arg"); done
  cargo_windows rustc -q --target x86_64-pc-windows-msvc --release -p ndis-rwlock --lib \
    --features driver --crate-type cdylib \
    --config "target.x86_64-pc-windows-msvc.linker=\"$check/lld-link.sh\"" \
    -- "${rustc_args[@]}" 2> "$out/link.log" || { cat "$out/link.log" >&2; exit 1; }
  grep -v "ignoring unknown argument '-kernel'\|^$" "$out/link.log" >&2 || true
  cp "$CARGO_TARGET_DIR/x86_64-pc-windows-msvc/release/ndis_rwlock.dll" "$out/ndis_rwlock.sys"
fi

# ---- image, emulate ---------------------------------------------------------------------------
if wants image; then
  step "image: shape, imports, exports (pefile)"
  "$venv/bin/python" "$tree/windows/check/check_image.py" "$out/ndis_rwlock.sys" \
    --def "$tree/windows/ndis_rwlock.def" --imports "$tree/windows/check/ntoskrnl.def"
fi
if wants emulate; then
  step "emulate: every export in speakeasy"
  "$venv/bin/python" "$tree/windows/check/emulate.py" "$out/ndis_rwlock.sys" \
    --def "$tree/windows/ndis_rwlock.def" --imports "$tree/windows/check/ntoskrnl.def"
fi

# ---- wine -------------------------------------------------------------------------------------
if wants wine; then
  step "wine: the image under a test driver"
  "$tree/windows/check/wine/run.sh" "$out/ndis_rwlock.sys" "$out/wine" "$venv/bin/python"
fi
step "passed"
