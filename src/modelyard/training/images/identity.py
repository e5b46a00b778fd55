"""What an image classifier was trained and evaluated on, as promotion compares it.

The input schema of every image model is the same, ``["image"]``: a served version
preprocesses what it is sent itself (its size and mode are in its ``meta.json``), so a
32x32 network may replace a 16x16 baseline. The labels are the sorted class names. The
held-out fingerprint hashes each usable image's bytes with its label, and the split
parameters; neither file names nor the folder's path are part of it, and two generations
trained on the same folder (whatever their preprocessing) compare their metrics.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from modelyard.inputs.image import IMAGE
from modelyard.training.identity import DataIdentity, _list_tag
from modelyard.training.images.folder import ImageSet

SOURCE = "images"


def identify(images: ImageSet, split: Mapping[str, Any]) -> dict[str, str]:
    """The identity of a run on ``images`` split with ``split``."""
    content = hashlib.sha256()
    for label, digest in sorted(zip(images.labels(), images.digests, strict=True)):
        content.update(f"{label}\0{digest}\n".encode())
    holdout = {
        "source": SOURCE,
        "data_sha256": content.hexdigest(),
        "test_size": float(split.get("test_size", 0.3)),
        "seed": int(split.get("seed", 0)),
        "stratify": bool(split.get("stratify", True)),
    }
    fingerprint = hashlib.sha256(json.dumps(holdout, sort_keys=True).encode()).hexdigest()
    return DataIdentity(_list_tag([IMAGE]), _list_tag(images.classes), fingerprint).as_dict()
