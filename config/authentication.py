"""API token authentication without a database query per request.

DRF's TokenAuthentication reads the token and its user on every request. `CachedTokenAuthentication` keeps what
that read found in the shared cache (Redis in production, so every web process sees the same entries) for
WAYBILL_TOKEN_CACHE_SECONDS: the user's row without its password hash (read from the database only if something
asks for it) and when the token was made. An entry is keyed by a hash of the token, never the token itself.

It is forgotten when
- the token is deleted (also when its user is deleted: the token goes with it) or saved;
- its user is saved (deactivated, made staff or not, renamed...) or deleted.
Forgetting is done at once and again after the commit; an entry also carries its token's cache version, read
before the database is, and a change bumps that version, so a request that read the database just before a change
committed never keeps what it read. A change that bypasses save() (a QuerySet.update() of users) is seen at the
latest when the entry expires. Permissions and groups are never cached here: they are read per request as before.
One cache round trip per request (a get_many of the entry and its version).
"""

from __future__ import annotations

import hashlib
import uuid

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models.signals import post_delete, post_save
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token


def _keys(token: str) -> tuple[str, str]:
    digest = hashlib.sha256(token.encode()).hexdigest()
    return f"auth-token:{digest}", f"auth-token-version:{digest}"


def _user_fields() -> list[str]:
    return [f.attname for f in get_user_model()._meta.concrete_fields if f.attname != "password"]


class CachedTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key):
        entry_key, version_key = _keys(key)
        found = cache.get_many([entry_key, version_key])
        entry, version = found.get(entry_key), found.get(version_key)
        if entry is not None and version is not None and entry["version"] == version:
            return self._from_entry(key, entry)
        if version is None:  # the version before the database: a change after this read makes the entry stale
            version = uuid.uuid4().hex
            if not cache.add(version_key, version, timeout=None):
                version = cache.get(version_key)
        user, token = super().authenticate_credentials(key)  # refuses unknown tokens and inactive users
        entry = {"version": version, "created": token.created,
                 "user": {name: getattr(user, name) for name in _user_fields()}}
        cache.set(entry_key, entry, timeout=settings.WAYBILL_TOKEN_CACHE_SECONDS)
        return user, token

    @staticmethod
    def _from_entry(key: str, entry: dict):
        names = list(entry["user"])
        user = get_user_model().from_db(DEFAULT_DB_ALIAS, names, [entry["user"][name] for name in names])
        token = Token.from_db(DEFAULT_DB_ALIAS, ["key", "user_id", "created"], [key, user.pk, entry["created"]])
        token.user = user
        return user, token


def forget_tokens(tokens) -> None:
    """Forget what the cache holds for these token keys: now, and again once the transaction commits."""
    tokens = [t for t in tokens if t]

    def forget():
        keys = [_keys(t) for t in tokens]
        cache.delete_many([entry for entry, _ in keys])
        cache.set_many({version: uuid.uuid4().hex for _, version in keys}, timeout=None)

    if tokens:
        forget()
        transaction.on_commit(forget)


def _token_changed(sender, instance, **kwargs) -> None:
    forget_tokens([instance.key])


def _user_changed(sender, instance, **kwargs) -> None:
    if kwargs.get("raw"):
        return
    forget_tokens(list(Token.objects.filter(user_id=instance.pk).values_list("key", flat=True)))


def connect() -> None:
    """Called from config.apps: the cache forgets what the database no longer says."""
    post_save.connect(_token_changed, sender=Token, dispatch_uid="waybill-token-saved")
    post_delete.connect(_token_changed, sender=Token, dispatch_uid="waybill-token-deleted")
    user_model = get_user_model()
    post_save.connect(_user_changed, sender=user_model, dispatch_uid="waybill-token-user-saved")
    # a deleted user's tokens are deleted with them, and each of those deletions is heard above
