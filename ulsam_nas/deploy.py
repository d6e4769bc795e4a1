"""Deployable exports of a trained model (ONNX, TorchScript), checked against PyTorch's outputs."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["ExportCheck", "export_model"]

FORMATS = ("onnx", "torchscript")


@dataclass(frozen=True)
class ExportCheck:
    path: Path
    format: str
    max_abs_difference: float | None  # against PyTorch on random inputs; None where no runtime was available
    note: str = ""


def export_model(model: torch.nn.Module, path: str | Path, fmt: str, resolution: int, atol: float = 1e-4) -> ExportCheck:
    """Export ``model`` (eval mode, batch 1 input of ``resolution``) and compare the export's outputs with PyTorch's."""
    if fmt not in FORMATS:
        raise ValueError(f"--export: unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    model = model.eval().float().to("cpu", memory_format=torch.contiguous_format)
    path = Path(path)
    example = torch.randn(1, 3, resolution, resolution)
    inputs = torch.randn(2, 3, resolution, resolution, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(inputs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # exporter deprecation chatter
        if fmt == "torchscript":
            traced = torch.jit.trace(model, example)
            traced.save(str(path))
            with torch.no_grad():
                actual = torch.jit.load(str(path))(inputs)
            return ExportCheck(path, fmt, float((actual - expected).abs().max()))
        torch.onnx.export(model, (example,), str(path), dynamo=False, input_names=["images"], output_names=["logits"],
                          dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17)
    try:
        import onnxruntime
    except ImportError:
        return ExportCheck(path, fmt, None, "not checked: pip install onnxruntime to compare outputs")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (actual,) = session.run(None, {"images": inputs.numpy()})
    return ExportCheck(path, fmt, float((torch.from_numpy(actual) - expected).abs().max()))


def check_formats(formats: list[str]) -> None:
    """Refuse an unknown export format before anything is trained."""
    for fmt in formats:
        if fmt not in FORMATS:
            raise ValueError(f"--export: unknown format {fmt!r}; valid: {', '.join(FORMATS)}")


def export_trained(out: str | Path, formats: list[str], resolution: int) -> list[ExportCheck]:
    """Export the best model of a ``train`` output folder in each of ``formats``, each checked against PyTorch."""
    from .training import load_trained

    out = Path(out)
    _, model = load_trained(out)
    names = {"onnx": "model.onnx", "torchscript": "model.torchscript.pt"}
    return [export_model(model, out / names[fmt], fmt, resolution) for fmt in formats]
