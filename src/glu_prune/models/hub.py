"""The Hugging Face hub: is it reachable, is a model already in the local cache.

A model that needs an unreachable hub fails within seconds with a UserError that says so.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from ..errors import UserError


def hub_offline_requested() -> bool:
    """The user asked for cached hub files only (HF_HUB_OFFLINE)."""
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


def hub_reachable(timeout: float = 5.0) -> bool:
    if hub_offline_requested():
        return False
    host = os.environ.get("HF_ENDPOINT", "https://huggingface.co").split("://")[-1].split("/")[0]
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def cached_snapshot(hub_id: str) -> str | None:
    from huggingface_hub import snapshot_download

    try:  # a previous download in the local HF cache is fine to use offline
        return snapshot_download(hub_id, local_files_only=True)
    except Exception:
        return None


def require_hub(hub_id: str) -> str:
    """Local snapshot path of hub_id, or hub_id itself if the hub is reachable; else a UserError."""
    cached = cached_snapshot(hub_id)
    if cached and Path(cached, "config.json").exists():
        return cached
    if not hub_reachable():
        raise UserError(
            f"{hub_id} needs the Hugging Face hub, which is unreachable from here and the model "
            "is not in the local cache (use --random-weights for a shape-only model, or run where the hub "
            "is reachable)"
        )
    return hub_id
