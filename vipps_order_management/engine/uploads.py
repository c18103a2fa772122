"""Images at Vipps: each distinct picture prepared and uploaded once per merchant, ever.

An image is known by the SHA-256 of its source bytes (of several, for a collage), so nothing is
prepared to find out whether Vipps has it. Before preparing one, a worker *claims* it with a row
of its own (``UploadedImage`` without an ``image_id`` yet); other workers that need the same
picture meanwhile wait for it rather than upload it again, and a claim whose worker died runs
out like a lease. The uploaded ``imageId`` is the hash of the prepared bytes, so even a lost
claim can only ever re-upload the very same bytes, which Vipps answers with a harmless conflict.

:func:`digest`, :func:`prepare` and :func:`upload` do no database work (they run in worker
threads); :func:`claim` and :func:`record` are the constant-query database steps of a batch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..adapters import ImageSource
from ..client import OrderManagementClient
from ..exceptions import VippsConflict
from ..images import PreparedImage, make_collage, prepare_image
from ..models import UploadedImage

__all__ = [
    "Claims",
    "ImageSet",
    "claim",
    "digest",
    "forget",
    "forget_lost",
    "lookup",
    "prepare",
    "record",
    "renew",
    "set_hash",
    "upload",
]


@dataclass(frozen=True)
class ImageSet:
    """The source pictures of one Vipps image (several make a collage) for one sales unit."""

    merchant_serial_number: str
    sources: tuple[ImageSource, ...]

    @property
    def names(self) -> str:
        return ", ".join(source.name for source in self.sources)


def source_identity(source: ImageSource) -> object:
    """What identifies a source within a batch: its :attr:`~ImageSource.identity` (its
    content, or its file in a storage), else the object itself; never its name alone."""
    return source.identity if source.identity is not None else ("object", id(source))


def digest(source: ImageSource) -> bytes:
    """SHA-256 of the source's bytes (read once per batch by the caller's dedup)."""
    return hashlib.sha256(source.read()).digest()


def set_hash(digests: Sequence[bytes]) -> str:
    """What identifies a set of source images (one, or a collage) before any preparing."""
    return hashlib.sha256(b"".join(digests)).hexdigest()


def prepare(sources: Sequence[ImageSource]) -> PreparedImage:
    """One image as Vipps takes it: the picture itself, or a collage of several."""
    if len(sources) == 1:
        return prepare_image(sources[0].read(), source=sources[0].name)
    return make_collage(
        [source.read() for source in sources], source=", ".join(s.name for s in sources)
    )


def upload(client: OrderManagementClient, prepared: PreparedImage) -> bool:
    """Upload; ``True`` if this call stored it, ``False`` if Vipps had these bytes already."""
    try:
        client.upload_image(prepared.image_id, prepared.data)
    except VippsConflict:
        return False  # images can never be overwritten: Vipps has these very bytes
    return True


# ---------------------------------------------------------------------- database steps


@dataclass
class Claims:
    """What a batch found out about its image sets (``(msn, source hash)`` keys)."""

    known: dict[tuple[str, str], str] = field(default_factory=dict)  # -> image_id
    refused: dict[tuple[str, str], str] = field(default_factory=dict)  # -> why it cannot be used
    mine: set[tuple[str, str]] = field(default_factory=set)  # to prepare and upload now
    elsewhere: set[tuple[str, str]] = field(default_factory=set)  # another worker is on it


def claim(wanted: Iterable[tuple[str, str]], *, token: str, seconds: float) -> Claims:
    """Find which sets Vipps has, and claim the others for this batch (committed at once).

    At most four queries whatever the number of sets: read, insert the missing claims, take
    over claims that ran out, read back what is ours.
    """
    wanted = set(wanted)
    claims = Claims()
    if not wanted:
        return claims
    condition = _condition(wanted)
    now = timezone.now()
    until = now + timedelta(seconds=seconds)
    with transaction.atomic():
        rows = {
            (r.merchant_serial_number, r.source_hash): r
            for r in UploadedImage.objects.filter(condition)
        }
        stale = []
        for key, row in rows.items():
            if row.image_id:
                claims.known[key] = row.image_id
            elif row.error:
                claims.refused[key] = row.error
            elif row.claimed_until is not None and row.claimed_until > now:
                claims.elsewhere.add(key)
            else:
                stale.append(row.pk)
        missing = wanted - set(rows)
        if missing:
            UploadedImage.objects.bulk_create(
                [
                    UploadedImage(
                        merchant_serial_number=msn,
                        source_hash=source_hash,
                        claimed_by=token,
                        claimed_until=until,
                    )
                    for msn, source_hash in sorted(missing)
                ],
                ignore_conflicts=True,
            )
        if stale:
            UploadedImage.objects.filter(
                Q(claimed_until__isnull=True) | Q(claimed_until__lte=now),
                pk__in=stale,
                image_id="",
                error="",
            ).update(claimed_by=token, claimed_until=until)
        if missing or stale:
            claims.mine = set(
                UploadedImage.objects.filter(condition, claimed_by=token, image_id="").values_list(
                    "merchant_serial_number", "source_hash"
                )
            )
            claims.elsewhere |= (
                missing | {k for k, r in rows.items() if r.pk in stale}
            ) - claims.mine
    return claims


def renew(token: str, seconds: float) -> None:
    """Keep this batch's claims while it is still preparing and uploading (with its lease)."""
    UploadedImage.objects.filter(claimed_by=token, image_id="", error="").update(
        claimed_until=timezone.now() + timedelta(seconds=seconds)
    )


def lookup(keys: Iterable[tuple[str, str]]) -> Claims:
    """What became of sets another worker claimed: uploaded, refused, or still in hand."""
    claims = Claims()
    keys = set(keys)
    if not keys:
        return claims
    for row in UploadedImage.objects.filter(_condition(keys)):
        key = (row.merchant_serial_number, row.source_hash)
        if row.image_id:
            claims.known[key] = row.image_id
        elif row.error:
            claims.refused[key] = row.error
    claims.elsewhere = keys - set(claims.known) - set(claims.refused)
    return claims


def record(
    *,
    token: str,
    uploaded: dict[tuple[str, str], PreparedImage],
    refused: dict[tuple[str, str], str],
) -> None:
    """Store the outcome of this batch's claims; claims not settled are given up for others."""
    settled = [*uploaded, *refused]
    if settled:
        rows = {
            (r.merchant_serial_number, r.source_hash): r
            for r in UploadedImage.objects.filter(_condition(settled), claimed_by=token)
        }
        for key, row in rows.items():
            if key in uploaded:
                prepared = uploaded[key]
                row.image_id = prepared.image_id
                row.width, row.height, row.size = (
                    prepared.width,
                    prepared.height,
                    len(prepared.data),
                )
            else:
                row.error = refused[key][:500]
            row.claimed_by, row.claimed_until = "", None
        UploadedImage.objects.bulk_update(
            rows.values(),
            ["image_id", "width", "height", "size", "error", "claimed_by", "claimed_until"],
        )
    UploadedImage.objects.filter(claimed_by=token, image_id="", error="").update(
        claimed_by="", claimed_until=None
    )


def forget(merchant_serial_number: str, image_sets: Iterable[Sequence[ImageSource]]) -> int:
    """Forget that these images are at Vipps, so the next send uploads them again.

    For staff re-uploading an image, and for an order whose data Vipps lost. An image Vipps
    still has answers the upload with a harmless conflict (its id is its content's hash).
    Returns how many remembered uploads were dropped.
    """
    hashes = set()
    for sources in image_sets:
        if not sources:
            continue
        try:
            hashes.add(set_hash([digest(source) for source in sources]))
        except (OSError, ValueError):  # unreadable now: nothing to forget for it
            continue
    deleted, _ = UploadedImage.objects.filter(
        merchant_serial_number=merchant_serial_number, source_hash__in=hashes
    ).delete()
    return deleted


def forget_lost(images: Iterable[tuple[str, str]]) -> int:
    """Forget uploads Vipps no longer has, by ``(merchant serial number, image id)``, so the
    next send of their links uploads them again; returns how many were forgotten."""
    condition = Q(pk__in=[])
    for msn, image_id in set(images):
        condition |= Q(merchant_serial_number=msn, image_id=image_id)
    deleted, _ = UploadedImage.objects.filter(condition).delete()
    return deleted


def _condition(keys: Iterable[tuple[str, str]]) -> Q:
    by_msn: dict[str, list[str]] = {}
    for msn, source_hash in keys:
        by_msn.setdefault(msn, []).append(source_hash)
    condition = Q(pk__in=[])
    for msn, hashes in by_msn.items():
        condition |= Q(merchant_serial_number=msn, source_hash__in=sorted(hashes))
    return condition
