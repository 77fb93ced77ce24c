"""``tinysim demo``: the whole pipeline on tinysim's own MCUNet-like model."""
from __future__ import annotations

from pathlib import Path

from .golden import write_golden
from .loader import load_model_bytes
from .modelgen import mcunet_like_model
from .report import format_info
from .verify import verify_bytes
from .writer import write_model


def _banner(title: str) -> None:
    print(f"\n=== {title} " + "=" * max(0, 70 - len(title)))


def run_demo(out_dir: Path) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    _banner("1. build tinysim's own MCUNet-like int8 model")
    model_path = out_dir / "mcunet_like.tflite"
    model_bytes = write_model(mcunet_like_model(seed=0))
    model_path.write_bytes(model_bytes)
    graph = load_model_bytes(model_bytes, model_path.name)
    print(f"wrote {model_path} ({len(model_bytes):,} bytes)")

    _banner("2. tinysim info")
    print(format_info(graph))

    _banner("3. tinysim verify: every tensor against TFLite Micro")
    report = verify_bytes(model_bytes, model_path.name, count=5, seed=0)
    print(report.summary_line())
    for m in report.mismatches[:5]:
        print("  MISMATCH " + m.describe())

    _banner("4. tinysim golden: per-op vectors as .npy and C headers")
    golden_dir = out_dir / "golden"
    manifest = write_golden(graph, golden_dir)
    print(f"{len(manifest.ops)} ops written to {golden_dir} (headers op000_*.h ..., manifest.json)")
    return 0 if report.ok else 1
