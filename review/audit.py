"""The audit trail: who read which trace; who labeled, adjudicated, exported or downloaded what;
and every change to detectors, the taxonomy, roles, users and API tokens.

An entry is one INSERT, written where the action happens and inside its transaction, so an action
is never stored without its entry nor an entry without its action. Who acted and from where are
read from the request being served, which ``AuditContextMiddleware`` keeps in a context variable:
the services and signal receivers that record need no request handed down to them, and whatever
path a change takes (the admin, the API, a command) it is recorded the same way. Without a
request (a management command, a task) the actor is "system".

Nothing from a trace's text goes into an entry, and no secret: a password or a token's hash is
noted as changed, never with its value.
"""

import ipaddress
import logging
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError, models
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.http import HttpRequest, HttpResponse

from detection.models import Detector
from review.models import AuditEntry, Category
from traces.models import ApiToken, Trace

logger = logging.getLogger(__name__)
Action = AuditEntry.Action

SYSTEM = "system"
# Strings longer than this, in a detail, are cut: an entry says what changed, it is no archive.
MAX_DETAIL_CHARS = 2000

_request: ContextVar[HttpRequest | None] = ContextVar("tracewatch_audit_request", default=None)


class AuditContextMiddleware:
    """Makes the request being served the context of every entry recorded while serving it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        reset = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(reset)


def _ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


def client_address(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or behind ``TRACEWATCH_TRUSTED_PROXIES`` proxies the
    address the outermost of them saw, read from the right of X-Forwarded-For (what lies further
    left was written by the client and proves nothing)."""
    hops = settings.TRACEWATCH_TRUSTED_PROXIES
    if hops > 0:
        forwarded = [
            part for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()
        ]
        if forwarded and (address := _ip(forwarded[-min(hops, len(forwarded))])):
            return address
    return _ip(request.META.get("REMOTE_ADDR", ""))


@dataclass(frozen=True)
class Actor:
    name: str
    user_id: int | None = None
    token_id: int | None = None
    address: str | None = None


def current_actor() -> Actor:
    """Who is acting: the token of an API request that sent one, else the signed-in user."""
    request = _request.get()
    if request is None:
        return Actor(SYSTEM)
    address = client_address(request)
    token = getattr(request, "auth", None)  # DRF sets it on the request it wraps
    if isinstance(token, ApiToken):
        name = f"token {token}" + (f" {token.name}" if token.name else "")
        return Actor(name, token_id=token.pk, address=address)
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return Actor(user.get_username(), user_id=user.pk, address=address)
    return Actor("anonymous", address=address)


def _text(value: str, limit: int) -> str:
    """Text the database takes whatever it holds: no NUL (PostgreSQL refuses it), no lone
    surrogate, cut to ``limit``."""
    value = value.replace("\x00", "\N{SYMBOL FOR NULL}")
    value = value.encode("utf-8", "replace").decode("utf-8")
    return value if len(value) <= limit else value[: limit - 1] + "\N{HORIZONTAL ELLIPSIS}"


def plain(value: Any) -> Any:
    """``value`` as JSON the log can always store: times as ISO text, long strings cut."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _text(value, MAX_DETAIL_CHARS)
    if isinstance(value, dict):
        return {_text(str(key), 200): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(item) for item in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return _text(str(value), MAX_DETAIL_CHARS)


def record(action: str, obj: models.Model, *, detail: dict | None = None) -> AuditEntry:
    """Append one entry about ``obj`` for the current actor: one INSERT, in whatever transaction
    the caller is in."""
    actor = current_actor()
    entry = AuditEntry(
        actor=_text(actor.name, 150),
        actor_user_id=actor.user_id,
        actor_token_id=actor.token_id,
        address=actor.address,
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        object_repr=_text(str(obj), 200),
        detail=plain(detail or {}),
    )
    entry.save()
    return entry


def record_read(action: str, obj: models.Model, *, detail: dict | None = None) -> None:
    """A read: of a trace, or of a dataset's file. A read holds no transaction that its entry
    could share, and is not refused for want of its entry: a failed write is logged instead."""
    try:
        record(action, obj, detail=detail)
    except DatabaseError:
        logger.exception("audit entry not written: %s of %s %s", action, obj._meta.label, obj.pk)


def record_view(trace: Trace, *, via: str) -> None:
    """A trace read in the console or through the API."""
    record_read(Action.VIEW, trace, detail={"via": via})


# Configuration: every save and delete of these models is recorded, through whatever path.


@dataclass(frozen=True)
class Tracked:
    """How a model's changes are recorded: ``ignored`` fields are bookkeeping that changes on
    its own (a login, a token's use); ``hidden`` fields are secrets, noted without values."""

    ignored: frozenset[str] = frozenset()
    hidden: frozenset[str] = frozenset()

    def fields(self, model: type[models.Model]) -> list[models.Field]:
        return [
            field
            for field in model._meta.concrete_fields
            if not field.primary_key and field.name not in self.ignored
        ]


def tracked_models() -> dict[type[models.Model], Tracked]:
    """The configuration whose every save and delete is recorded (the user model is only known
    once apps are loaded, hence a function)."""
    return {
        Detector: Tracked(ignored=frozenset({"created_at", "updated_at"})),
        Category: Tracked(),
        ApiToken: Tracked(
            ignored=frozenset({"created_at", "last_used_at", "prefix"}),
            hidden=frozenset({"key_hash"}),
        ),
        get_user_model(): Tracked(
            ignored=frozenset({"last_login", "date_joined"}), hidden=frozenset({"password"})
        ),
    }


_BEFORE = "_audit_before"


def _values(instance: models.Model, fields: Iterable[models.Field]) -> dict[str, Any]:
    return {field.name: getattr(instance, field.attname) for field in fields}


def _remember_before(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    """Read the row as stored before a save, to tell the fields the save changes. A save of named
    fields (``update_fields``) writes only those, so only those are compared."""
    if kwargs.get("raw") or instance.pk is None:
        return
    fields = tracked_models()[sender].fields(sender)
    if (update_fields := kwargs.get("update_fields")) is not None:
        fields = [f for f in fields if f.name in update_fields or f.attname in update_fields]
    if not fields:
        return  # bookkeeping only: a login, a token's use
    stored = sender._default_manager.filter(pk=instance.pk).values(*(f.attname for f in fields))
    row = stored.first()
    if row is not None:
        setattr(instance, _BEFORE, {f.name: row[f.attname] for f in fields})


def changes(tracked: Tracked, before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Each changed field with its old and new value; a hidden one only as changed."""
    changed = {}
    for name, new in after.items():
        old = before.get(name)
        if name not in before and new in (None, "", [], {}):
            continue  # a new object's empty field says nothing
        if name in before and old == new:
            continue
        changed[name] = {"changed": True} if name in tracked.hidden else {"old": old, "new": new}
    return changed


def _saved(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    if kwargs.get("raw"):
        return
    tracked = tracked_models()[sender]
    before = instance.__dict__.pop(_BEFORE, None)
    fields = tracked.fields(sender)
    if not kwargs.get("created"):
        if before is None:
            return  # a save of bookkeeping fields only
        fields = [field for field in fields if field.name in before]
    changed = changes(tracked, before or {}, _values(instance, fields))
    if not changed:
        return
    if kwargs.get("created"):
        action = Action.CREATE
    elif sender is ApiToken and changed.get("revoked", {}).get("new") is True:
        action = Action.REVOKE
    else:
        action = Action.CHANGE
    record(action, instance, detail=changed)


def _deleted(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    tracked = tracked_models()[sender]
    kept = {
        name: {"old": value}
        for name, value in _values(instance, tracked.fields(sender)).items()
        if name not in tracked.hidden
    }
    record(Action.DELETE, instance, detail=kept)


# Roles are group memberships: changes to a user's groups, from either side of the relation.

_GROUPS_BEFORE = "_audit_groups_before"


def _memberships(user_ids: Iterable[int]) -> dict[int, set[str]]:
    Membership = get_user_model().groups.through
    held: dict[int, set[str]] = {pk: set() for pk in user_ids}
    for user_id, name in Membership.objects.filter(user_id__in=held).values_list(
        "user_id", "group__name"
    ):
        held[user_id].add(name)
    return held


def _membership_changed(
    sender: type[models.Model],
    instance: models.Model,
    action: str,
    reverse: bool,
    pk_set: set[int] | None,
    **kwargs: Any,
) -> None:
    """Group membership changed: one entry per user whose roles changed, with the groups before
    and after."""
    User = get_user_model()
    if action == "pre_clear":
        # Who is about to lose what: the clear itself names no one.
        related = instance.user_set if reverse else instance.groups
        setattr(instance, _GROUPS_BEFORE, set(related.values_list("pk", flat=True)))
        return
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if action == "post_clear":
        pk_set = instance.__dict__.pop(_GROUPS_BEFORE, set())
    if not pk_set:
        return
    if reverse:  # a group gained or lost users
        users = list(User._default_manager.filter(pk__in=pk_set))
        moved = {instance.name}
    else:  # a user gained or lost groups
        users = [instance]
        moved = set(
            instance.groups.model._default_manager.filter(pk__in=pk_set).values_list(
                "name", flat=True
            )
        )
    now_held = _memberships(user.pk for user in users)
    granted = action == "post_add"
    for user in users:
        new = now_held[user.pk]
        old = new - moved if granted else new | moved
        record(
            Action.GRANT if granted else Action.WITHDRAW,
            user,
            detail={"groups": {"old": sorted(old), "new": sorted(new)}},
        )


def connect() -> None:
    """Connect the receivers that record configuration changes (from ``ReviewConfig.ready``)."""
    for model in tracked_models():
        uid = f"review.audit.{model._meta.label_lower}"
        pre_save.connect(_remember_before, sender=model, dispatch_uid=f"{uid}.before")
        post_save.connect(_saved, sender=model, dispatch_uid=f"{uid}.saved")
        post_delete.connect(_deleted, sender=model, dispatch_uid=f"{uid}.deleted")
    m2m_changed.connect(
        _membership_changed,
        sender=get_user_model().groups.through,
        dispatch_uid="review.audit.memberships",
    )
