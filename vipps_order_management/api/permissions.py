"""Who may use the API: staff by ``API_PERMISSION_CLASSES``, customers only for their own orders.

Deny by default. Every staff endpoint requires an authenticated user plus every class named in
``VIPPS_ORDER_MANAGEMENT["API_PERMISSION_CLASSES"]`` (default: ``IsAdminUser`` and
``DjangoModelPermissions``). DRF's ``DjangoModelPermissions`` lets any user *read* and asks
``add`` for every POST; neither fits here, so each view states what its methods mean
(:attr:`StaffPermissionsMixin.model_perms_map`) and the configured model-permission classes
are adjusted to it:

* links and images: view / add / change / delete on ``OrderLink`` / ``OrderImage``;
* sync status and attempts: view on the *order* model; triggering a sync: change on it.
"""

from __future__ import annotations

from typing import ClassVar

from rest_framework.permissions import BasePermission, DjangoModelPermissions, IsAuthenticated

from ..conf import app_settings, configured_class

__all__ = [
    "ADD",
    "CHANGE",
    "DELETE",
    "READ_NEEDS_VIEW",
    "VIEW",
    "StaffPermissionsMixin",
    "configured_permission_classes",
]

VIEW = "%(app_label)s.view_%(model_name)s"
ADD = "%(app_label)s.add_%(model_name)s"
CHANGE = "%(app_label)s.change_%(model_name)s"
DELETE = "%(app_label)s.delete_%(model_name)s"

#: Reading needs the view permission (DRF's default asks nothing for GET).
READ_NEEDS_VIEW: dict[str, list[str]] = {"GET": [VIEW], "HEAD": [VIEW]}


def configured_permission_classes() -> list[type[BasePermission]]:
    """The classes named in ``API_PERMISSION_CLASSES`` (dotted paths or classes)."""
    classes: list[type[BasePermission]] = []
    for entry in app_settings.API_PERMISSION_CLASSES:
        classes.append(
            configured_class(
                entry,
                base=BasePermission,
                key="'API_PERMISSION_CLASSES'",
                kind="a DRF permission class",
            )
        )
    return classes


class StaffPermissionsMixin:
    """For staff views: authenticated, then the configured classes, adjusted to the view.

    ``model_perms_map`` overrides entries of ``perms_map`` on every configured
    ``DjangoModelPermissions`` (or subclass), against the model of ``get_queryset()``.
    """

    model_perms_map: ClassVar[dict[str, list[str]]] = READ_NEEDS_VIEW

    def get_permissions(self) -> list[BasePermission]:
        permissions: list[BasePermission] = [IsAuthenticated()]
        for permission_class in configured_permission_classes():
            permission = permission_class()
            if isinstance(permission, DjangoModelPermissions):
                permission.perms_map = {**permission.perms_map, **self.model_perms_map}
            permissions.append(permission)
        return permissions
