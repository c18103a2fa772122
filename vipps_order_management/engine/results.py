"""What a drain tells its caller: one :class:`SyncResult` per outbox row, summed up."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..outcomes import Outcome

__all__ = ["DrainResult", "SyncResult"]


@dataclass
class SyncResult:
    """What happened to one outbox row (one kind of one order)."""

    kind: str
    status: Outcome
    message: str = ""
    calls: int = 0  # HTTP calls made to Vipps for the order
    #: The order as the shop knows it ("Order 1001"), for messages; "" when unknown.
    order: str = ""
    #: Vipps's answer when it was Vipps that refused or failed; ``None`` when nothing reached
    #: it (refused here: the order's data, the shop's code, the configuration).
    status_code: int | None = None

    def __post_init__(self) -> None:
        self.status = Outcome(self.status)

    @property
    def ok(self) -> bool:
        return self.status.ok


@dataclass
class DrainResult:
    """Counts from one drain: rows processed, and what became of them."""

    processed: int = 0
    done: int = 0
    waiting: int = 0
    retried: int = 0
    dead: int = 0
    released: int = 0
    results: list[SyncResult] = field(default_factory=list)

    def add(self, result: SyncResult) -> None:
        self.results.append(result)
        status = result.status
        if not status.attempted:
            self.released += 1
            return
        self.processed += 1
        if status is Outcome.WAITING:
            self.waiting += 1
        elif status.ok:
            self.done += 1
        elif status is Outcome.RETRY:
            self.retried += 1
        elif status is Outcome.DEAD:
            self.dead += 1

    def __str__(self) -> str:
        parts = [f"{self.done} done"]
        if self.waiting:
            parts.append(f"{self.waiting} waiting for a Vipps payment")
        parts += [f"{self.retried} to retry", f"{self.dead} failed"]
        if self.released:
            parts.append(f"{self.released} handed back")
        return f"{self.processed} processed: " + ", ".join(parts)
