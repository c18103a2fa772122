"""The image stage: the batch's pictures found, claimed, prepared and uploaded, once each.

For the links of a batch: read each distinct source once (in threads) to know its content,
claim the image sets nobody has at Vipps yet, prepare and upload those (in threads), wait a
little for sets another worker is uploading, then give every link its image id. A picture that
cannot be made valid is left out of its link with the reason; a source that cannot be read now
is retried; one that can never be read waits for staff.

Uploads are recorded at once, in a transaction of their own, so the next batch (or another
worker) that needs the same picture finds it without waiting for this one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from django.db import transaction

from .. import signals
from ..adapters import ImageSource
from ..client import OrderManagementClient
from ..exceptions import ImageValidationError
from ..images import PreparedImage
from ..outcomes import CircuitBreaker, NotAttempted, Outcome, Verdict, classify
from . import leases, uploads
from .calllog import collecting
from .work import LINKS, OrderWork

__all__ = ["IMAGE_POLL_SECONDS", "IMAGE_WAIT_SECONDS", "ImageStage"]

#: How long a batch waits for an image another worker is uploading, checking every so often;
#: its orders are handed back if the upload takes longer (a worker that died with the claim).
IMAGE_WAIT_SECONDS = 15.0
IMAGE_POLL_SECONDS = 0.1

ImageKey = tuple[str, str]  # (merchant serial number, hash of the source set)


class ImageStage:
    """The images of one batch. ``wait`` waits for futures while the leases are renewed;
    ``renew`` renews them once."""

    def __init__(
        self,
        *,
        executor: ThreadPoolExecutor,
        clients: dict[str, OrderManagementClient],
        lease: leases.Lease,
        breaker: CircuitBreaker,
        wait: Callable[[Sequence[Future[Any]]], None],
        renew: Callable[[], None],
        wait_seconds: float,
    ) -> None:
        self.executor = executor
        self.clients = clients
        self.lease = lease
        self.breaker = breaker
        self.wait = wait
        self.renew = renew
        self.wait_seconds = wait_seconds
        self.wanted: dict[ImageKey, tuple[OrderWork, tuple[ImageSource, ...]]] = {}
        self.uploaded: dict[ImageKey, PreparedImage] = {}
        self.refused: dict[ImageKey, str] = {}
        self.failed: dict[ImageKey, BaseException] = {}

    def run(self, works: Sequence[OrderWork]) -> None:
        """Settle the images of ``works`` whose links are still to be sent."""
        needing = [w for w in works if LINKS in w.open_kinds() and w.plan is not None]
        if not needing:
            return
        self._want(needing, self._digests(needing))
        claims = uploads.claim(self.wanted, token=self.lease.token, seconds=self.lease.seconds)
        self.refused.update(claims.refused)
        self.lease.images_claimed = bool(claims.mine)
        self.wait(
            [self.executor.submit(self._prepare_and_upload, key) for key in sorted(claims.mine)]
        )
        if claims.mine:
            with transaction.atomic():
                uploads.record(
                    token=self.lease.token,
                    uploaded=self.uploaded,
                    refused={k: r for k, r in self.refused.items() if k in claims.mine},
                )
            self.lease.images_claimed = False
        others = self._await_others(claims.elsewhere)
        self.refused.update(others.refused)
        ids = {
            **claims.known,
            **others.known,
            **{key: prepared.image_id for key, prepared in self.uploaded.items()},
        }
        _each_order(needing, lambda work: self._assign(work, ids))

    # -- what is needed -------------------------------------------------------------------------

    def _digests(self, works: Sequence[OrderWork]) -> dict[object, bytes | BaseException]:
        """SHA-256 of each distinct source of the links (read in threads), or what reading
        it raised. Sources are told apart by :func:`uploads.source_identity`: their content
        where it is at hand, their file where it is in a storage, never their name alone."""
        sources: dict[object, ImageSource] = {}

        def collect(work: OrderWork) -> None:
            assert work.plan is not None
            mine = {
                uploads.source_identity(source): source
                for link in work.plan.links
                for source in link.sources
            }
            for identity, source in mine.items():
                sources.setdefault(identity, source)

        _each_order(works, collect)
        found: dict[object, bytes | BaseException] = {}

        def read(identity: object, source: ImageSource) -> None:
            # Storage failing now counts as Vipps failing does: once the breaker opens, the
            # sources not read yet are left for a later round instead of each timing out.
            if self.breaker.open:
                found[identity] = NotAttempted("image storage is failing; tried again soon")
                return
            try:
                found[identity] = uploads.digest(source)
            except Exception as exc:
                found[identity] = exc
                self.breaker.record(classify(exc).outcome, answered=False)

        self.wait([self.executor.submit(read, i, s) for i, s in sources.items()])
        return found

    def _want(
        self, works: Sequence[OrderWork], digests: dict[object, bytes | BaseException]
    ) -> None:
        """Each link's image set, by content; a source that could not be read settles the
        order's links: retried, waiting for staff, or handed back unread (the breaker)."""
        _each_order(works, lambda work: self._want_one(work, digests))

    def _want_one(self, work: OrderWork, digests: dict[object, bytes | BaseException]) -> None:
        assert work.target is not None
        assert work.plan is not None
        for link in work.plan.links:
            key = None
            if link.sources:
                found = [digests[uploads.source_identity(s)] for s in link.sources]
                failure = next((f for f in found if isinstance(f, BaseException)), None)
                if isinstance(failure, ImageValidationError):
                    work.notes.append(f"Image left out: {failure}")
                    work.log.refused("image preparation", str(failure), kind=LINKS)
                elif isinstance(failure, NotAttempted):
                    work.settle(LINKS, classify(failure))
                elif failure is not None:
                    verdict = classify(failure)
                    work.log.refused("image source", verdict.message, kind=LINKS)
                    work.settle(LINKS, verdict)
                else:
                    digests_found = [f for f in found if isinstance(f, bytes)]
                    key = (work.target.merchant_serial_number, uploads.set_hash(digests_found))
                    self.wanted.setdefault(key, (work, link.sources))
            work.image_keys.append(key)

    # -- uploading ------------------------------------------------------------------------------

    def _prepare_and_upload(self, key: ImageKey) -> None:
        """In a thread: prepare one image set and upload it (HTTP and image work only)."""
        work, image_sources = self.wanted[key]
        if self.breaker.open:
            self.failed[key] = NotAttempted("Vipps seems down; not uploading now.")
            return
        try:
            prepared = uploads.prepare(image_sources)
        except ImageValidationError as exc:
            self.refused[key] = str(exc)
            return
        except Exception as exc:  # storage trouble, or a bug: classified with the order
            self.failed[key] = exc
            self.breaker.record(classify(exc).outcome, answered=False)
            return
        with collecting(work.log, LINKS):
            answers = work.log.answers
            try:
                fresh = uploads.upload(self.clients[key[0]], prepared)
            except Exception as exc:
                self.failed[key] = exc
                self.breaker.record(classify(exc).outcome, answered=work.log.answers > answers)
                return
        self.breaker.record(Outcome.DONE, answered=True)
        self.uploaded[key] = prepared
        if fresh:
            work.events.append(
                (
                    signals.image_uploaded,
                    {"image_id": prepared.image_id, "merchant_serial_number": key[0]},
                )
            )

    def _await_others(self, elsewhere: set[ImageKey]) -> uploads.Claims:
        """Wait a little for images other workers are uploading, rather than upload them too.

        An upload takes a second or so; the orders that need one wait for it here (renewing
        the lease meanwhile) instead of being handed back to wait for a later round.
        """
        waiting = set(elsewhere)
        deadline = time.monotonic() + min(IMAGE_WAIT_SECONDS, self.wait_seconds)
        found = uploads.Claims()
        while waiting and time.monotonic() < deadline:
            time.sleep(IMAGE_POLL_SECONDS)
            self.renew()
            latest = uploads.lookup(waiting)
            found.known.update(latest.known)
            found.refused.update(latest.refused)
            waiting = latest.elsewhere
        return found

    def _assign(self, work: OrderWork, ids: dict[ImageKey, str]) -> None:
        """The order's categories, each with its image id; or why its links cannot go yet."""
        assert work.plan is not None
        work.categories = []
        for link, key in zip(work.plan.links, work.image_keys, strict=True):
            image_id = None
            if key is not None:
                if key in ids:
                    image_id = ids[key]
                elif key in self.refused:
                    work.notes.append(f"Image left out: {self.refused[key]}")
                    work.log.refused("image preparation", self.refused[key], kind=LINKS)
                elif key in self.failed:
                    work.settle(LINKS, classify(self.failed[key]))  # not tried: handed back
                else:  # another worker is uploading it right now
                    work.settle(
                        LINKS,
                        Verdict(
                            Outcome.DEFERRED, "Waiting for another worker's upload of the image."
                        ),
                    )
            work.categories.append(link.category_payload(image_id))


def _each_order(works: Sequence[OrderWork], step: Callable[[OrderWork], None]) -> None:
    """``step`` for each order whose links are still open. Whatever one order's step raises
    (a shop's image source that is not what it says) settles that order's links, never the
    batch: the others go on, and the rows are not handed back to be claimed first again."""
    for work in works:
        if LINKS in work.verdicts:
            continue
        try:
            step(work)
        except Exception as exc:
            work.settle(LINKS, classify(exc))
