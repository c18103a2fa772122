"""Where order images are kept: ``STORAGES[IMAGE_STORAGE]``, looked up on every use.

The image field's ``storage`` is :func:`image_storage` (migrations name it as
``models.image_storage``, which :mod:`.models` re-exports).
"""

from __future__ import annotations

from typing import Any

from django.core.files.storage import Storage, storages

from .conf import app_settings

__all__ = ["ImageStorage", "image_storage"]


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
