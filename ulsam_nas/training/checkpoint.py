"""Checkpoints that hold only data and say when they are damaged: ``last.pt`` and ``best.pt`` of ``train``.

Loading uses ``torch.load(weights_only=True)``: tensors, dicts, lists, numbers and strings, which is all a
checkpoint holds, and never a pickled callable (``weights_only=False`` ran whatever a crafted file held).
PyTorch's zip reader does not check its own CRCs (a flipped byte loaded silently in most trials), so a
SHA-256 of the content (every value and every tensor's bytes, in order) is stored inside the checkpoint and
checked on load. Checkpoints written before it was stored load unchecked. Writing goes through a temporary
file that is renamed into place, so a crash or a full disk leaves the previous checkpoint, never half of one.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import re
from pathlib import Path
from typing import Any

import torch

from ..files import write_atomically

__all__ = ["content_digest", "load_checkpoint", "save_checkpoint"]

DIGEST_KEY = "content_sha256"


def content_digest(value: Any) -> str:
    """SHA-256 of a checkpoint's content: keys, values, and each tensor's dtype, shape and bytes, in order."""
    digest = hashlib.sha256()
    _feed(digest, value)
    return digest.hexdigest()


def _feed(digest, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous().reshape(-1)
        digest.update(f"tensor {tensor.dtype} {tuple(value.shape)}\n".encode())
        digest.update(tensor.view(torch.uint8).numpy())
    elif isinstance(value, dict):
        digest.update(f"dict {len(value)}\n".encode())
        for key, item in value.items():
            _feed(digest, key)
            _feed(digest, item)
    elif isinstance(value, (list, tuple)):
        digest.update(f"{type(value).__name__} {len(value)}\n".encode())
        for item in value:
            _feed(digest, item)
    else:
        digest.update(f"{type(value).__name__} {value!r}\n".encode())


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """Write ``state`` with its content digest, atomically; a failed write (full disk) is one ValueError."""
    path = Path(path)
    buffer = io.BytesIO()
    torch.save({**state, DIGEST_KEY: content_digest(state)}, buffer)
    try:
        write_atomically(path, buffer.getbuffer())
    except OSError as error:
        raise ValueError(f"checkpoint: cannot write {path}: {error.strerror or error}; any earlier one is "
                         "left as it was") from None


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The checkpoint at ``path``; a damaged one, or one that holds more than data, is one ValueError."""
    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise ValueError(f"checkpoint: no file {path}") from None
    except pickle.UnpicklingError as error:
        unsafe = re.search(r"GLOBAL ([\w.]+)", str(error))
        if unsafe:
            raise ValueError(f"checkpoint {path}: holds more than tensors and plain data (a pickled {unsafe.group(1)}); "
                             "refusing to load it, as loading could run code") from None
        raise ValueError(f"checkpoint {path}: damaged ({_first_line(error)}); refusing to load it") from None
    except Exception as error:  # a truncated or overwritten zip: torch and pickle raise many kinds
        raise ValueError(f"checkpoint {path}: damaged (truncated or corrupted: {_first_line(error)}); "
                         "refusing to load it") from None
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint {path}: damaged (holds a {type(state).__name__}, not a checkpoint); refusing to load it")
    stored = state.pop(DIGEST_KEY, None)
    if stored is not None and stored != content_digest(state):
        raise ValueError(f"checkpoint {path}: damaged (its content does not match the checksum stored in it); "
                         "refusing to load it")
    return state


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return (text.splitlines()[0][:120] if text else error.__class__.__name__)
