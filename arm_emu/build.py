"""Cross-compile C kernels into a Cortex-M ELF with arm-none-eabi-gcc, cached by content.

One call compiles and links every source in one compiler run against kernels_c/tinysim.ld.
The ELF lands in the cache directory (``<repo>/.build/arm/``, or ``$TINYSIM_BUILD_DIR``)
under a name holding a hash of everything that can change the output: the compiler's
version, the CPU, every flag, the linker script, the sources and every header in the
include directories. A second call with the same inputs returns the cached file without
running the compiler, so tests do not recompile; a failed build is remembered for the
process too, so a test that builds per example does not rerun a failing compile.

Flags (``compile_flags``): ``-mthumb -O3`` for the named CPU with the soft-float ABI;
the Cortex-M4 and M7 cores both have the DSP extension, which ``-mcpu`` turns on.
``-ffreestanding`` says there is no libc; it implies ``-fno-builtin``, which would turn
``memcpy(&v, p, 4)`` into a real call and make kernels 2-5x slower, so ``-fbuiltin`` turns
the builtins back on (``__builtin_memcpy`` inlines either way). ``-g`` adds line tables
only (no code change) so faults can name the source line. ``-Wall -Wextra -Werror``:
kernels compile warning-free. kernels_c/ts_runtime.c (memcpy, memset, memmove, memcmp,
which GCC may emit calls to) is always linked, with libgcc for 64-bit division helpers.
"""
from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

from tinysim.errors import TinysimError

REPO_ROOT = Path(__file__).resolve().parents[1]
KERNELS_C = REPO_ROOT / "kernels_c"
LINKER_SCRIPT = KERNELS_C / "tinysim.ld"
RUNTIME_SOURCE = (KERNELS_C / "ts_runtime.c").resolve()
COMPILER = "arm-none-eabi-gcc"

CPU_FLAGS: dict[str, tuple[str, ...]] = {
    "cortex-m4": ("-mcpu=cortex-m4", "-mfloat-abi=soft"),
    "cortex-m7": ("-mcpu=cortex-m7", "-mfloat-abi=soft"),
}
COMMON_FLAGS: tuple[str, ...] = (
    "-mthumb", "-O3", "-g", "-std=c11",
    "-ffreestanding", "-fbuiltin",
    "-ffunction-sections", "-fdata-sections",
    "-Wall", "-Wextra", "-Werror",
)
LINK_FLAGS: tuple[str, ...] = ("-nostdlib", "-Wl,--no-warn-rwx-segments")
SOURCE_SUFFIXES = (".c", ".S", ".s")
_FAILED: dict[str, str] = {}   # cache key -> its error message, for this process


class BuildError(TinysimError):
    """The ARM toolchain is missing, or a kernel failed to compile or link."""


def compile_flags(cpu: str, extra_flags: Sequence[str] = ()) -> tuple[str, ...]:
    """Every compiler flag for ``cpu`` (a key of CPU_FLAGS) followed by ``extra_flags``."""
    if cpu not in CPU_FLAGS:
        raise BuildError(f"unknown CPU {cpu!r}: tinysim builds for {', '.join(sorted(CPU_FLAGS))}")
    return CPU_FLAGS[cpu] + COMMON_FLAGS + tuple(extra_flags)


def cache_dir() -> Path:
    override = os.environ.get("TINYSIM_BUILD_DIR")
    return Path(override) if override else REPO_ROOT / ".build" / "arm"


@functools.lru_cache(maxsize=None)
def compiler_version() -> str:
    """The compiler's first --version line; raises BuildError naming the fix if absent."""
    path = shutil.which(COMPILER)
    if path is None:
        raise BuildError(
            f"{COMPILER} is not on PATH; install it with "
            "`apt-get install -y --no-install-recommends gcc-arm-none-eabi` (or run setup.sh)")
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()[0].strip()


def build_elf(sources: Iterable[str | os.PathLike], cpu: str = "cortex-m7",
              extra_flags: Sequence[str] = ()) -> Path:
    """Compile and link ``sources`` (.c/.S) for ``cpu``; return the cached ELF's path.

    Include directories: kernels_c/ and the directory of each source.
    """
    paths = _source_paths(sources)
    flags = compile_flags(cpu, extra_flags)
    include_dirs = _include_dirs(paths)
    key = _cache_key(paths, include_dirs, cpu, flags)
    out = cache_dir() / f"{paths[0].stem}-{cpu}-{key}.elf"
    if out.exists():
        return out
    if key in _FAILED:   # same inputs, same error: do not run the compiler again
        raise BuildError(_FAILED[key])
    out.parent.mkdir(parents=True, exist_ok=True)
    linked = paths if RUNTIME_SOURCE in paths else [*paths, RUNTIME_SOURCE]
    command = [shutil.which(COMPILER) or COMPILER, *flags,
               *(f"-I{d}" for d in include_dirs),
               *(str(p) for p in linked),
               "-T", str(LINKER_SCRIPT), *LINK_FLAGS, "-lgcc"]
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        tmp_elf = Path(tmp) / out.name
        result = subprocess.run([*command, "-o", str(tmp_elf)], capture_output=True, text=True)
        if result.returncode != 0:
            names = ", ".join(p.name for p in paths)
            _FAILED[key] = (
                f"{COMPILER} failed to build {names} for {cpu} (exit {result.returncode}):\n"
                f"{result.stderr.strip()}\ncommand: {' '.join(command)}")
            raise BuildError(_FAILED[key])
        # os.replace is atomic: concurrent builders of the same key never see a torn file
        os.replace(tmp_elf, out)
    return out


def _source_paths(sources: Iterable[str | os.PathLike]) -> list[Path]:
    paths = [Path(s).resolve() for s in sources]
    if not paths:
        raise BuildError("build_elf needs at least one source file")
    for p in paths:
        if not p.is_file():
            raise BuildError(f"kernel source {p} does not exist")
        if p.suffix not in SOURCE_SUFFIXES:
            raise BuildError(f"kernel source {p} is not C or assembly ({', '.join(SOURCE_SUFFIXES)})")
    return list(dict.fromkeys(paths))


def _include_dirs(paths: Sequence[Path]) -> list[Path]:
    return list(dict.fromkeys([KERNELS_C.resolve(), *(p.parent for p in paths)]))


def _cache_key(paths: Sequence[Path], include_dirs: Sequence[Path], cpu: str,
               flags: Sequence[str]) -> str:
    h = hashlib.sha256()
    for part in (compiler_version(), cpu, *flags, *LINK_FLAGS):
        h.update(part.encode() + b"\0")
    inputs = [*dict.fromkeys([*paths, RUNTIME_SOURCE]), LINKER_SCRIPT,
              *sorted(f for d in include_dirs for f in d.glob("*.h"))]
    for f in inputs:
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]
