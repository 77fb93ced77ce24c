"""Read a Cortex-M ELF (pyelftools): loadable segments, symbols, code ranges, source lines."""
from __future__ import annotations

import bisect
import functools
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from elftools.common.exceptions import ELFError
from elftools.elf.constants import P_FLAGS, SH_FLAGS
from elftools.elf.elffile import ELFFile

from tinysim.errors import TinysimError


@dataclass(frozen=True)
class Segment:
    """A PT_LOAD segment at its run-time address; bytes past ``data`` up to mem_size are 0."""
    address: int
    data: bytes
    mem_size: int
    readable: bool
    writable: bool
    executable: bool


@dataclass(frozen=True)
class Symbol:
    """A function or object symbol; ``address`` has the Thumb bit cleared."""
    name: str
    address: int
    size: int
    is_function: bool

    @property
    def end(self) -> int:
        return self.address + self.size


@dataclass(frozen=True)
class ElfImage:
    path: Path
    segments: tuple[Segment, ...]
    symbols: Mapping[str, Symbol]
    code_ranges: tuple[tuple[int, int], ...]   # [start, end) of Thumb code, literal pools cut out
    _functions: tuple[Symbol, ...]            # sorted by address, sized functions only

    def function(self, name: str) -> Symbol:
        sym = self.symbols.get(name)
        if sym is None or not sym.is_function:
            known = ", ".join(s.name for s in self._functions) or "none"
            raise TinysimError(f"{self.path.name} has no function {name!r}; its functions: {known}")
        return sym

    def function_at(self, address: int) -> Symbol | None:
        i = bisect.bisect_right([f.address for f in self._functions], address) - 1
        if i >= 0 and address < self._functions[i].end:
            return self._functions[i]
        return None

    def symbolize(self, address: int) -> str:
        """``name+0xoff`` of the function holding ``address``, or ``?`` outside every one."""
        f = self.function_at(address)
        return f"{f.name}+0x{address - f.address:x}" if f else "?"

    def functions(self) -> tuple[Symbol, ...]:
        return self._functions

    def source_line(self, address: int) -> str | None:
        """``file:line`` from the DWARF line table (ELFs built with -g), else None."""
        rows = _line_rows(self.path)
        i = bisect.bisect_right(rows, (address, "\uffff", 1 << 30)) - 1
        if i < 0 or self.function_at(rows[i][0]) is not self.function_at(address):
            return None
        return f"{rows[i][1]}:{rows[i][2]}"


def load_elf(path: str | Path) -> ElfImage:
    path = Path(path)
    try:
        with path.open("rb") as fh:
            elf = ELFFile(fh)
            if elf["e_machine"] != "EM_ARM" or elf.elfclass != 32:
                raise TinysimError(f"{path} is not a 32-bit ARM ELF (machine {elf['e_machine']})")
            segments = tuple(_segments(elf))
            symbols, mapping = _symbols(elf)
            code_ranges = tuple(_code_ranges(elf, mapping))
    except (OSError, ELFError) as exc:
        raise TinysimError(f"cannot read ELF {path}: {exc}") from exc
    functions = tuple(sorted((s for s in symbols.values() if s.is_function and s.size > 0),
                             key=lambda s: s.address))
    return ElfImage(path, segments, MappingProxyType(symbols), code_ranges, functions)


def _segments(elf: ELFFile):
    for seg in elf.iter_segments():
        if seg["p_type"] != "PT_LOAD" or seg["p_memsz"] == 0:
            continue
        flags = seg["p_flags"]
        yield Segment(address=seg["p_vaddr"], data=seg.data(), mem_size=seg["p_memsz"],
                      readable=bool(flags & P_FLAGS.PF_R), writable=bool(flags & P_FLAGS.PF_W),
                      executable=bool(flags & P_FLAGS.PF_X))


def _symbols(elf: ELFFile) -> tuple[dict[str, Symbol], list[tuple[int, str]]]:
    """Function/object symbols by name, and the ARM mapping symbols ($t, $d) as (addr, kind)."""
    table = elf.get_section_by_name(".symtab")
    if table is None:
        raise TinysimError("the ELF has no symbol table (was it stripped?)")
    symbols: dict[str, Symbol] = {}
    mapping: list[tuple[int, str]] = []
    for s in table.iter_symbols():
        kind = s["st_info"]["type"]
        if s.name.startswith("$") and len(s.name) >= 2 and s.name[1] in "atd":
            mapping.append((s["st_value"], s.name[1]))
        elif kind in ("STT_FUNC", "STT_OBJECT") and s.name:
            address = s["st_value"] & ~1 if kind == "STT_FUNC" else s["st_value"]
            symbols[s.name] = Symbol(s.name, address, s["st_size"], kind == "STT_FUNC")
    mapping.sort()
    return symbols, mapping


def _code_ranges(elf: ELFFile, mapping: list[tuple[int, str]]):
    """Thumb code inside executable sections, using the mapping symbols to skip literal pools."""
    for sec in elf.iter_sections():
        if not sec["sh_flags"] & SH_FLAGS.SHF_EXECINSTR or sec["sh_size"] == 0:
            continue
        lo, hi = sec["sh_addr"], sec["sh_addr"] + sec["sh_size"]
        marks = [(a, k) for a, k in mapping if lo <= a < hi]
        if any(k == "a" for _, k in marks):
            raise TinysimError(f"section {sec.name} holds ARM-state code; Cortex-M runs Thumb only")
        if not marks or marks[0][0] != lo:
            marks.insert(0, (lo, "t"))
        for (start, kind), (end, _) in zip(marks, marks[1:] + [(hi, "")]):
            if kind == "t" and end > start:
                yield start, end


@functools.lru_cache(maxsize=16)
def _line_rows(path: Path) -> list[tuple[int, str, int]]:
    rows: list[tuple[int, str, int]] = []
    with path.open("rb") as fh:
        elf = ELFFile(fh)
        if not elf.has_dwarf_info():
            return rows
        dwarf = elf.get_dwarf_info()
        for cu in dwarf.iter_CUs():
            program = dwarf.line_program_for_CU(cu)
            if program is None:
                continue
            files = program["file_entry"]
            base = 1 if program["version"] < 5 else 0
            for entry in program.get_entries():
                state = entry.state
                if state is None or state.end_sequence:
                    continue
                index = state.file - base
                name = files[index].name.decode() if 0 <= index < len(files) else "?"
                rows.append((state.address, name, state.line))
    rows.sort()
    return rows
