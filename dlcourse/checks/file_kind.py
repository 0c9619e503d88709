"""What a file that should hold weights is, told from its first bytes, and the one thing to do.

When ``torch.load(..., weights_only=True)`` cannot read a weights file, its own message is
about torch (and advises turning ``weights_only`` off, which would run the file's code); the
student needs to hear what the file *is*: a TorchScript archive, a pickle of another protocol
than torch's safe loader reads, a NumPy or Keras file, a zip of something else, a file cut short
or empty. :func:`unreadable_weights` says that in one sentence, never "is it corrupt?".
Reads bytes only; loads and runs nothing.
"""

from __future__ import annotations

import io
import zipfile

SAVE = 'save the weights with torch.save(model.state_dict(), "{name}")'
# Opcodes torch's safe loader (weights_only=True) reads: pickle protocol 2 (torch.save's
# default) and 3; 4 and 5 frame their data (FRAME), 0 and 1 write numbers as text.
SAFE_PROTOCOLS = (2, 3)


def unreadable_weights(data: bytes, name: str, unsupported_opcode: bool = False) -> str:
    """One sentence naming what ``data`` (the file ``name``) is, for a file torch's safe loader
    refused or could not read, and how to save weights the grader reads. ``unsupported_opcode``:
    the safe loader met an instruction it does not read (a pickle of another protocol)."""
    save = SAVE.format(name=name)
    if not data:
        return f"{name} is empty (0 bytes): the save did not finish or the file was copied too early; {save}."
    protocol = pickle_protocol(data)
    if protocol is not None and protocol not in SAFE_PROTOCOLS and (unsupported_opcode or protocol > 3) \
            and not is_torchscript(zip_members(data)):
        which = f"protocol {protocol}" if protocol >= 2 else "protocol 0 or 1"
        return (f"{name} was pickled with {which}, which the grader's safe loader does not read: "
                f"{save} (torch.save's own protocol, without pickle_protocol=).")
    if data[:4] == b"PK\x03\x04":
        return _zip_kind(data, name, save)
    if data[:8] == b"\x89HDF\r\n\x1a\n":
        return f"{name} is an HDF5 file (Keras's model.save or h5py), not PyTorch weights: {save}."
    if data[:6] == b"\x93NUMPY":
        return f"{name} is a NumPy array file (numpy.save), not a state_dict: {save}."
    if _looks_like_text(data):
        start = data[:40].decode("utf-8", errors="replace").strip().splitlines()[0] if data.strip() else ""
        return f'{name} is a text file (it begins "{start}"), not weights: {save}.'
    return f"{name} is not a file written by torch.save, so it was not loaded: {save}."


def _zip_kind(data: bytes, name: str, save: str) -> str:
    members = zip_members(data)
    if not members:
        return (f"{name} is cut short: it begins like a file torch.save writes, but its end is missing (the save "
                f"or the upload did not finish); {save} again.")
    if is_torchscript(members):
        return (f"{name} is a TorchScript archive (torch.jit.save), a program rather than a state_dict; the grader "
                f"does not run programs: {save}.")
    if members and all(m.endswith(".npy") for m in members):
        return f"{name} is a NumPy archive (numpy.savez), not a state_dict: {save}."
    if any(m.endswith("/data.pkl") or m == "data.pkl" for m in members):
        return f"{name} is a torch.save file whose contents could not be read (saved by another program?): {save}."
    shown = ", ".join(members[:3]) + (", ..." if len(members) > 3 else "")
    return f"{name} is a zip archive ({shown or 'empty'}), not weights: {save}."


def zip_members(data: bytes) -> list[str]:
    """A zip's member names; none for what is not a readable zip."""
    if data[:4] != b"PK\x03\x04":
        return []
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return []


def is_torchscript(members: list[str]) -> bool:
    """Whether a zip's member names are a TorchScript archive's (``<name>/code/``, ``constants.pkl``)."""
    return any("/code/" in m or m.endswith("/constants.pkl") for m in members)


def pickle_protocol(data: bytes) -> int | None:
    """The pickle protocol of a torch file's main pickle (``data.pkl`` in the zip format, the
    first pickle in the legacy one): 0 or 1 have no PROTO opcode; None if not a pickle."""
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                pickled = [m for m in archive.namelist() if m.endswith("data.pkl")]
                data = archive.read(pickled[0])[:2] if pickled else b""
        except (zipfile.BadZipFile, OSError, ValueError, RuntimeError):
            return None
    if data[:1] == b"\x80" and len(data) > 1:
        return data[1]
    return 0 if data[:1] in (b"(", b"}", b"]", b"c", b"L", b"I") else None


def _looks_like_text(data: bytes) -> bool:
    head = data[:512]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\n\r\t" for c in text)
