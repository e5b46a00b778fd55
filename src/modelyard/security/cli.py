"""``modelyard keygen``: a new key and the hash to put in the settings."""

from __future__ import annotations

import typer

from modelyard.security.keys import hash_key, new_key


def keygen() -> None:
    """Print a new API or admin key and its hash, as two lines: key=<key> and hash=<hash>.

    Give the key to the client; put the hash in MODELYARD_API_KEY_HASHES or
    MODELYARD_ADMIN_KEY_HASHES (comma separated).
    """
    key = new_key()
    typer.echo(f"key={key}")
    typer.echo(f"hash={hash_key(key)}")
