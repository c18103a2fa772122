"""Where images are kept and how they are read: the order images' storage,
``STORAGES[IMAGE_STORAGE]`` looked up on every use, and bounded reads from any storage.

The image field's ``storage`` is :func:`image_storage` (migrations name it as
``models.image_storage``, which :mod:`.models` re-exports). :func:`read_from_storage` is the
boundary between a storage backend and this app: its failures in this app's terms.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import SuspiciousOperation
from django.core.files.storage import InvalidStorageError, Storage, storages

from .conf import app_settings
from .exceptions import ImageSourceError, ImageValidationError, StorageUnavailable
from .images import MAX_INPUT_BYTES, file_too_big

__all__ = ["ImageStorage", "image_storage", "read_from_storage", "read_stored_image"]


class ImageStorage(Storage):
    """``STORAGES[IMAGE_STORAGE]``, looked up on every use rather than when models load.

    Django calls a field's storage callable once, as the model class is built; a storage that
    finds its backend per call lets ``IMAGE_STORAGE`` change (``override_settings``) and lets
    a wrong alias be a system check (E006), not a crash at start-up.
    """

    @property
    def backend(self) -> Storage:
        return storages[app_settings.IMAGE_STORAGE]

    def __getattr__(self, name: str) -> Any:  # a backend's own attributes (bucket_name...)
        return getattr(self.backend, name)


def _delegate(name: str) -> Any:
    def method(self: ImageStorage, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.backend, name)(*args, **kwargs)

    method.__name__ = method.__qualname__ = name
    return method


# What Storage defines itself is not reached through __getattr__: hand it over explicitly.
for _name in (
    "open",
    "save",
    "get_valid_name",
    "get_alternative_name",
    "get_available_name",
    "generate_filename",
    "path",
    "delete",
    "exists",
    "listdir",
    "size",
    "url",
    "get_accessed_time",
    "get_created_time",
    "get_modified_time",
):
    setattr(ImageStorage, _name, _delegate(_name))

_image_storage = ImageStorage()


def image_storage() -> Storage:
    """The storage of order images: ``STORAGES[IMAGE_STORAGE]``, whatever it is at the time."""
    return _image_storage


def read_stored_image(name: str, storage_alias: str, *, max_bytes: int = MAX_INPUT_BYTES) -> bytes:
    """Read an image through ``STORAGES[storage_alias]`` (any django-storages backend).

    The size is checked before the file is read, and the read itself is bounded, so a huge
    upload never lands in memory. What goes wrong is said in this app's terms (see
    :func:`read_from_storage`); an alias that is not in ``STORAGES`` is an
    :class:`ImageSourceError`.
    """
    try:
        storage = storages[storage_alias]
    except InvalidStorageError:
        raise ImageSourceError(
            f"the storage {storage_alias!r} is not defined in the STORAGES setting; add it, or "
            "name one that is",
            source=name,
        ) from None
    return read_from_storage(storage, name, max_bytes=max_bytes)


def read_from_storage(storage: Any, name: str, *, max_bytes: int = MAX_INPUT_BYTES) -> bytes:
    """Like :func:`read_stored_image`, for a storage object (a ``FieldFile.storage``, say).

    The boundary between a storage backend and this app: a missing or oversized file is an
    :class:`ImageValidationError` (the order's other links go without it); a name the storage
    refuses (``../x.png``) or a file it may not read is an :class:`ImageSourceError` (staff
    must fix it); any other failure of the backend, whatever its type (botocore's are no
    ``OSError``), is :class:`StorageUnavailable`, which is retried.
    """
    missing = "The image file was not found in storage. Upload it again."
    try:
        try:
            size = storage.size(name)
        except NotImplementedError:
            size = None
        if size is not None and size > max_bytes:
            raise ImageValidationError(file_too_big(size, max_bytes), source=name)
        with storage.open(name, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except (ImageValidationError, ImageSourceError):
        raise
    except FileNotFoundError:
        raise ImageValidationError(missing, source=name) from None
    except SuspiciousOperation as exc:
        raise ImageSourceError(
            f"the storage refuses this name ({exc}); store the image under a name inside it",
            source=name,
        ) from None
    except (PermissionError, IsADirectoryError) as exc:
        raise ImageSourceError(
            f"the file cannot be read ({type(exc).__name__}: {exc.strerror or exc})", source=name
        ) from None
    except Exception as exc:
        raise StorageUnavailable(
            f"{name}: could not read the image: {type(exc).__name__}: {exc}"
        ) from exc
    if len(data) > max_bytes:
        raise ImageValidationError(file_too_big(len(data), max_bytes, at_least=True), source=name)
    return bytes(data)
