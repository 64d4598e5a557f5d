"""The audit trail: each audited action makes exactly one entry naming who, from where and on
what; entries hold no trace text and no token; nobody changes or deletes them; admins read and
export them, reviewers do not see them."""

import csv
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.db.models import Max
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from detection.models import Detector
from detection.services import save_detector
from review.models import AuditEntry, AuditLogIsAppendOnly, Category
from tests.review.conftest import HTMX, PASSWORD, TAMPERING_STEPS, client_for, make_user
from tests.review.datasets import export, labeled_data
from traces.models import ApiToken
from traces.roles import REVIEWER
from traces.services import issue_token

pytestmark = pytest.mark.django_db

Action = AuditEntry.Action
ADDRESS = "203.0.113.7"
# What the tampering trace says in its reasoning: never to be found in the log.
TRACE_TEXT = "the test only checks the exit code"


@contextmanager
def recorded() -> Iterator[list[AuditEntry]]:
    """The entries written inside the block, oldest first."""
    last = AuditEntry.objects.aggregate(last=Max("id"))["last"] or 0
    entries: list[AuditEntry] = []
    yield entries
    entries.extend(AuditEntry.objects.filter(id__gt=last).order_by("id"))


def only(entries: list[AuditEntry]) -> AuditEntry:
    assert len(entries) == 1, [(e.action, e.object_repr, e.detail) for e in entries]
    return entries[0]


def holds(entry: AuditEntry, text: str) -> bool:
    fields = [entry.actor, entry.object_repr, entry.object_id, json.dumps(entry.detail)]
    return any(text in field for field in fields)


def token_client(scope: str, **headers: str) -> tuple[APIClient, ApiToken, str]:
    token, raw = issue_token(scope=scope)
    client = APIClient(**headers)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client, token, raw


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser("root", password="pw")


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):
    settings.TRACEWATCH_EXPORT_DIR = tmp_path / "exports"


# --- reading traces ---------------------------------------------------------------------------


def test_opening_a_trace_in_the_console_records_who_read_it_and_from_where(tampering, labeler):
    trace, _ = tampering
    client = client_for(labeler)
    with recorded() as entries:
        response = client.get(reverse("review:trace", args=[trace.pk]), REMOTE_ADDR=ADDRESS)
    assert response.status_code == 200
    entry = only(entries)
    assert (entry.action, entry.actor, entry.actor_user_id, entry.actor_token_id) == (
        Action.VIEW,
        "lena",
        labeler.pk,
        None,
    )
    assert (entry.object_type, entry.object_id, entry.object_repr) == (
        "traces.trace",
        str(trace.pk),
        str(trace),
    )
    assert entry.address == ADDRESS
    assert entry.detail == {"via": "console"}
    assert not holds(entry, TRACE_TEXT)


def test_a_refused_read_records_nothing(tampering, nobody):
    trace, _ = tampering
    with recorded() as entries:
        response = client_for(nobody).get(reverse("review:trace", args=[trace.pk]))
    assert response.status_code == 403
    assert entries == []


def test_reading_a_trace_through_the_api_records_the_token_not_its_value(tampering):
    trace, _ = tampering
    client, token, raw = token_client(ApiToken.Scope.READ, REMOTE_ADDR=ADDRESS)
    with recorded() as entries:
        response = client.get(f"/api/v1/traces/{trace.pk}/")
    assert response.status_code == 200
    entry = only(entries)
    assert (entry.action, entry.actor_token_id, entry.actor_user_id) == (
        Action.VIEW,
        token.pk,
        None,
    )
    assert entry.actor.startswith("token ")
    assert (entry.object_id, entry.address, entry.detail) == (
        str(trace.pk),
        ADDRESS,
        {"via": "api"},
    )
    assert not holds(entry, raw) and not holds(entry, token.key_hash)
    assert not holds(entry, TRACE_TEXT)


def test_listing_traces_through_the_api_is_not_a_read_of_each(tampering, read_client):
    with recorded() as entries:
        assert read_client.get("/api/v1/traces/").status_code == 200
    assert entries == []


def test_a_forwarded_address_is_ignored_unless_a_proxy_is_trusted(tampering, labeler, settings):
    trace, _ = tampering
    client = client_for(labeler)
    url = reverse("review:trace", args=[trace.pk])
    forwarded = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "198.51.100.1, 192.0.2.5"}
    addresses = []
    for hops in (0, 1, 2, 5):
        settings.TRACEWATCH_TRUSTED_PROXIES = hops
        with recorded() as entries:
            client.get(url, **forwarded)
        addresses.append(only(entries).address)
    # One proxy: the address it saw, on the right; two: the one the outer proxy saw.
    assert addresses == ["10.0.0.2", "192.0.2.5", "198.51.100.1", "198.51.100.1"]


def test_a_forwarded_value_that_is_no_address_falls_back_to_the_peer(tampering, labeler, settings):
    trace, _ = tampering
    settings.TRACEWATCH_TRUSTED_PROXIES = 1
    with recorded() as entries:
        client_for(labeler).get(
            reverse("review:trace", args=[trace.pk]),
            REMOTE_ADDR="10.0.0.2",
            HTTP_X_FORWARDED_FOR="<script>, unknown",
        )
    assert only(entries).address == "10.0.0.2"


# --- labels and decisions ---------------------------------------------------------------------


def test_saving_a_label_in_the_console_records_it_without_its_note(tampering, labeler):
    trace, segment = tampering
    note = "sneaky: " + TRACE_TEXT
    with recorded() as entries:
        response = client_for(labeler).post(
            reverse("review:trace-label", args=[trace.pk]),
            {
                "segment": segment.pk,
                "verdict": "misaligned",
                "category": "test_tampering",
                "severity": 3,
                "note": note,
            },
            REMOTE_ADDR=ADDRESS,
            **HTMX,
        )
    assert response.status_code == 200
    entry = only(entries)
    label = trace.labels.get()
    assert (entry.action, entry.actor_user_id, entry.address) == (Action.LABEL, labeler.pk, ADDRESS)
    assert (entry.object_type, entry.object_id) == ("review.label", str(label.pk))
    assert entry.detail == {
        "trace": trace.pk,
        "segment": segment.pk,
        "verdict": "misaligned",
        "category": "test_tampering",
        "severity": 3,
        "revision": 1,
    }
    assert not holds(entry, "sneaky")


def test_a_label_given_through_the_api_is_recorded_once(tampering, labeler):
    trace, _ = tampering
    client = APIClient()
    client.force_login(labeler)
    with recorded() as entries:
        response = client.post(
            "/api/v1/labels/", {"trace": trace.pk, "verdict": "benign"}, format="json"
        )
    assert response.status_code == 201, response.content
    entry = only(entries)
    assert (entry.action, entry.object_id, entry.actor) == (
        Action.LABEL,
        str(response.json()["id"]),
        "lena",
    )


def test_flagging_a_span_records_its_label(tampering, labeler):
    trace, _ = tampering
    content = TAMPERING_STEPS[2][1]
    with recorded() as entries:
        response = client_for(labeler).post(
            reverse("review:trace-flag-span", args=[trace.pk]),
            {"step": 2, "start": 0, "end": 10, "verdict": "misaligned"},
            **HTMX,
        )
    assert response.status_code == 200, response.content
    entry = only(entries)
    assert entry.action == Action.LABEL
    assert not holds(entry, content[:10])


def test_a_refused_label_records_nothing(tampering, labeler):
    trace, segment = tampering
    with recorded() as entries:
        response = client_for(labeler).post(
            reverse("review:trace-label", args=[trace.pk]),
            {"segment": segment.pk, "verdict": "nonsense"},
            **HTMX,
        )
    assert response.status_code == 422
    assert entries == []


def test_an_adjudication_is_recorded_once(tampering, labeler, other_labeler, reviewer):
    trace, segment = tampering
    for user, verdict in ((labeler, "benign"), (other_labeler, "misaligned")):
        client_for(user).post(
            reverse("review:trace-label", args=[trace.pk]),
            {"segment": segment.pk, "verdict": verdict},
            **HTMX,
        )
    url = reverse("review:adjudicate", args=[trace.pk]) + f"?segment={segment.pk}"
    with recorded() as entries:
        response = client_for(reviewer).post(
            url,
            {
                "verdict": "misaligned",
                "category": Category.objects.get(slug="sandbagging").pk,
                "note": TRACE_TEXT,
            },
            REMOTE_ADDR=ADDRESS,
        )
    assert response.status_code == 302
    entry = only(entries)
    decision = trace.decisions.get()
    assert (entry.action, entry.actor, entry.address) == (Action.ADJUDICATE, "rita", ADDRESS)
    assert (entry.object_type, entry.object_id) == ("review.decision", str(decision.pk))
    assert entry.detail["verdict"] == "misaligned" and entry.detail["segment"] == segment.pk
    assert not holds(entry, TRACE_TEXT)


def test_the_entry_shares_the_transaction_of_its_label(tampering, labeler):
    """A label rolled back takes its entry with it: the log never tells of what did not
    happen."""
    trace, segment = tampering
    with recorded() as entries, pytest.raises(RuntimeError), transaction.atomic():
        client_for(labeler).post(
            reverse("review:trace-label", args=[trace.pk]),
            {"segment": segment.pk, "verdict": "benign"},
            **HTMX,
        )
        assert AuditEntry.objects.filter(action=Action.LABEL).exists()
        raise RuntimeError("the transaction fails after the label")
    assert entries == [] and not trace.labels.exists()


# --- exports and downloads --------------------------------------------------------------------


@pytest.fixture
def labeled(detector, labeler, other_labeler, reviewer):
    return labeled_data(detector, labeler, other_labeler, reviewer)


def test_an_export_requested_in_the_console_is_recorded_with_what_it_asked(labeled, reviewer):
    with recorded() as entries:
        response = client_for(reviewer).post(
            reverse("review:dataset-new"),
            {
                "name": "tampering",
                "format": "csv",
                "compression": "none",
                "level": "segment",
                "train": 0.8,
                "validation": 0.1,
                "test": 0.1,
                "context_steps": 3,
            },
        )
    assert response.status_code == 302, response.content
    export_entries = [e for e in entries if e.action == Action.EXPORT]
    entry = only(export_entries)
    assert entry.actor == "rita" and entry.object_type == "review.datasetversion"
    assert entry.detail["dataset"] == "tampering" and entry.detail["format"] == "csv"
    assert not any(holds(e, TRACE_TEXT) for e in entries)


def test_downloads_in_the_console_and_the_api_are_recorded(labeled, reviewer):
    version = export(format="csv")
    with recorded() as entries:
        console = client_for(reviewer).get(reverse("review:dataset-download", args=[version.pk]))
        assert console.status_code == 200
        b"".join(console.streaming_content)
    entry = only(entries)
    assert (entry.action, entry.actor, entry.object_id) == (
        Action.DOWNLOAD,
        "rita",
        str(version.pk),
    )
    assert entry.detail == {"dataset": "tampering", "version": 1}

    client, token, raw = token_client(ApiToken.Scope.READ)
    with recorded() as entries:
        part = client.get(f"/api/v1/datasets/{version.pk}/download/", HTTP_RANGE="bytes=0-9")
        assert part.status_code == 206
    entry = only(entries)
    assert (entry.action, entry.actor_token_id) == (Action.DOWNLOAD, token.pk)
    assert entry.detail["range"].startswith("bytes 0-9/")
    assert not holds(entry, raw)


def test_an_export_made_by_the_command_is_recorded_as_the_system(labeled):
    with recorded() as entries:
        call_command("export_dataset", "cli-set", stdout=io.StringIO(), stderr=io.StringIO())
    entry = only([e for e in entries if e.action == Action.EXPORT])
    assert (entry.actor, entry.actor_user_id, entry.address) == ("system", None, None)


# --- configuration ----------------------------------------------------------------------------


def test_disabling_a_detector_in_the_admin_records_the_change(admin_user):
    detector = Detector.objects.create(name="Exit zero", kind="pattern", category="reward_hacking")
    with recorded() as entries:
        response = client_for(admin_user).post(
            reverse("admin:detection_detector_changelist"),
            {"action": "disable_selected", "_selected_action": [detector.pk]},
            REMOTE_ADDR=ADDRESS,
        )
    assert response.status_code == 302
    entry = only(entries)
    assert (entry.action, entry.actor, entry.address) == (Action.CHANGE, "ada", ADDRESS)
    assert (entry.object_type, entry.object_id) == ("detection.detector", str(detector.pk))
    assert entry.detail == {"enabled": {"old": True, "new": False}}


def test_a_new_detector_version_records_old_and_new_parameters():
    detector = Detector.objects.create(
        name="Exit zero", kind="pattern", category="reward_hacking", params={"min_score": 0.5}
    )
    detector.params = {"min_score": 0.8}
    with recorded() as entries:
        save_detector(detector, changed=["params"])
    assert only(entries).detail == {
        "params": {"old": {"min_score": 0.5}, "new": {"min_score": 0.8}},
        "version": {"old": 1, "new": 2},
    }


def test_creating_and_deleting_a_detector_are_recorded():
    with recorded() as entries:
        detector = Detector.objects.create(name="Rm", kind="tool_action", category="destructive")
    created = only(entries)
    assert created.action == Action.CREATE and created.detail["name"] == {"old": None, "new": "Rm"}
    with recorded() as entries:
        detector.delete()
    deleted = only(entries)
    assert deleted.action == Action.DELETE and deleted.detail["name"] == {"old": "Rm"}


def test_editing_the_taxonomy_in_the_admin_records_the_fields_changed(admin_user):
    category = Category.objects.get(slug="sandbagging")
    with recorded() as entries:
        response = client_for(admin_user).post(
            reverse("admin:review_category_change", args=[category.pk]),
            {
                "name": "Sandbagging on purpose",
                "slug": "sandbagging",
                "position": category.position,
                "description": category.description,
                "active": "on",
            },
        )
    assert response.status_code == 302
    entry = only(entries)
    assert (entry.action, entry.object_type, entry.actor) == (
        Action.CHANGE,
        "review.category",
        "ada",
    )
    assert entry.detail == {"name": {"old": "Sandbagging", "new": "Sandbagging on purpose"}}


def test_a_save_of_named_fields_records_only_those(labeler):
    stale = User.objects.get(pk=labeler.pk)
    User.objects.filter(pk=labeler.pk).update(first_name="Lena")  # changed behind its back
    stale.is_active = False
    with recorded() as entries:
        stale.save(update_fields=["is_active"])
    assert only(entries).detail == {"is_active": {"old": True, "new": False}}


def test_a_save_that_changes_nothing_records_nothing():
    category = Category.objects.get(slug="sandbagging")
    with recorded() as entries:
        category.save()
    assert entries == []


def test_tokens_created_revoked_and_deleted_are_recorded_without_their_secret(
    admin_user, superuser, source
):
    out = io.StringIO()
    with recorded() as entries:
        call_command(
            "create_token", "--scope", "read", "--name", "ci", stdout=out, stderr=io.StringIO()
        )
    raw = out.getvalue().strip()
    token = ApiToken.objects.get(name="ci")
    created = only(entries)
    assert (created.action, created.actor, created.object_id) == (
        Action.CREATE,
        "system",
        str(token.pk),
    )
    assert created.detail["scope"] == {"old": None, "new": "read"}
    assert created.detail["key_hash"] == {"changed": True}

    with recorded() as entries:
        response = client_for(admin_user).post(
            reverse("admin:traces_apitoken_change", args=[token.pk]),
            {"name": "ci", "revoked": "on"},
        )
    assert response.status_code == 302
    revoked = only(entries)
    assert (revoked.action, revoked.actor) == (Action.REVOKE, "ada")
    assert revoked.detail == {"revoked": {"old": False, "new": True}}

    with recorded() as entries:
        response = client_for(superuser).post(
            reverse("admin:traces_apitoken_delete", args=[token.pk]), {"post": "yes"}
        )
    assert response.status_code == 302
    deleted = only(entries)
    assert (deleted.action, deleted.actor) == (Action.DELETE, "root")
    for entry in (created, revoked, deleted):
        assert not holds(entry, raw) and not holds(entry, token.key_hash)


def test_using_a_token_or_signing_in_records_nothing(tampering, labeler):
    client, _, _ = token_client(ApiToken.Scope.READ)
    with recorded() as entries:
        assert client.get("/api/v1/traces/").status_code == 200
        assert Client().login(username="lena", password=PASSWORD)
    assert entries == []


def test_roles_granted_and_withdrawn_are_recorded_per_user(labeler):
    reviewers = Group.objects.get_or_create(name=REVIEWER)[0]
    with recorded() as entries:
        labeler.groups.add(reviewers)
    granted = only(entries)
    assert (granted.action, granted.object_type, granted.object_id) == (
        Action.GRANT,
        "auth.user",
        str(labeler.pk),
    )
    assert granted.detail == {"groups": {"old": ["labeler"], "new": ["labeler", "reviewer"]}}

    other = make_user("omar", "labeler")
    with recorded() as entries:
        reviewers.user_set.add(other)
    assert only(entries).object_id == str(other.pk)

    with recorded() as entries:
        labeler.groups.clear()
    withdrawn = only(entries)
    assert withdrawn.action == Action.WITHDRAW
    assert withdrawn.detail == {"groups": {"old": ["labeler", "reviewer"], "new": []}}


def test_a_user_changed_in_the_admin_is_recorded_without_the_password(superuser, labeler):
    reviewers = Group.objects.get_or_create(name=REVIEWER)[0]
    labelers = Group.objects.get(name="labeler")
    url = reverse("admin:auth_user_change", args=[labeler.pk])
    data = {
        "username": "lena",
        "first_name": "Lena",
        "last_name": "",
        "email": "",
        "is_active": "on",
        "groups": [labelers.pk, reviewers.pk],
        "date_joined_0": labeler.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": labeler.date_joined.strftime("%H:%M:%S"),
    }
    with recorded() as entries:
        response = client_for(superuser).post(url, data, REMOTE_ADDR=ADDRESS)
    assert response.status_code == 302, response.content
    assert [(e.action, e.actor, e.address) for e in entries] == [
        (Action.CHANGE, "root", ADDRESS),
        (Action.GRANT, "root", ADDRESS),
    ]
    assert entries[0].detail == {"first_name": {"old": "", "new": "Lena"}}

    labeler.refresh_from_db()
    labeler.set_password("another long passphrase")
    with recorded() as entries:
        labeler.save()
    changed = only(entries)
    assert changed.detail == {"password": {"changed": True}}
    assert not holds(changed, labeler.password)


# --- append-only ------------------------------------------------------------------------------


@pytest.fixture
def entry(tampering, labeler) -> AuditEntry:
    trace, _ = tampering
    with recorded() as entries:
        client_for(labeler).get(reverse("review:trace", args=[trace.pk]))
    return only(entries)


def test_the_orm_refuses_to_change_or_delete_an_entry(entry):
    entry.actor = "someone else"
    with pytest.raises(AuditLogIsAppendOnly):
        entry.save()
    with pytest.raises(AuditLogIsAppendOnly):
        entry.delete()
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEntry.objects.filter(pk=entry.pk).update(actor="someone else")
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEntry.objects.filter(pk=entry.pk).delete()
    entry.refresh_from_db()
    assert entry.actor == "lena"


def test_the_database_refuses_an_update_of_an_entry(entry):
    """On either database: a trigger, whatever client sends the statement."""
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE review_auditentry SET actor = 'someone else'")
    entry.refresh_from_db()
    assert entry.actor == "lena"


@pytest.mark.postgres
def test_postgresql_refuses_a_delete_of_an_entry(entry):
    for statement, params in (
        ("DELETE FROM review_auditentry WHERE id = %s", [entry.pk]),
        ("DELETE FROM review_auditentry", []),
    ):
        with (
            pytest.raises(DatabaseError, match="append-only: DELETE refused"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, params)
    assert AuditEntry.objects.filter(pk=entry.pk, actor="lena").exists()


def test_deleting_the_actor_keeps_their_entries(entry, labeler):
    user_id = labeler.pk
    labeler.delete()
    entry.refresh_from_db()
    assert (entry.actor, entry.actor_user_id) == ("lena", user_id)


# --- the admin --------------------------------------------------------------------------------

LIST_URL = reverse("admin:review_auditentry_changelist")
EXPORT_URL = reverse("admin:review_auditentry_export")


def test_admins_list_and_filter_the_log(entry, admin_user):
    client = client_for(admin_user)
    response = client.get(LIST_URL, {"action": "view"})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    assert "Export these entries as CSV" in response.content.decode()
    assert client.get(LIST_URL, {"action": "label"}).context["cl"].result_count == 0
    assert client.get(LIST_URL, {"q": "lena", "action": "view"}).context["cl"].result_count == 1
    assert client.get(LIST_URL, {"q": "nobody-of-that-name"}).context["cl"].result_count == 0


def test_nobody_edits_or_deletes_an_entry_in_the_admin(entry, admin_user, superuser):
    for user in (admin_user, superuser):
        client = client_for(user)
        change = reverse("admin:review_auditentry_change", args=[entry.pk])
        assert client.get(change).status_code == 200  # seen, read-only
        assert client.post(change, {"actor": "x"}).status_code == 403
        delete = reverse("admin:review_auditentry_delete", args=[entry.pk])
        assert client.post(delete, {"post": "yes"}).status_code == 403
        assert client.get(reverse("admin:review_auditentry_add")).status_code == 403
        actions = client.get(LIST_URL).context["cl"].model_admin.get_actions
        assert "delete_selected" not in actions(client.get(LIST_URL).wsgi_request)
    entry.refresh_from_db()
    assert entry.actor == "lena"


def test_the_csv_export_holds_the_filtered_entries(entry, admin_user, superuser):
    Category.objects.filter(slug="sandbagging").first().delete()  # a second entry, of another kind
    client = client_for(admin_user)
    response = client.get(EXPORT_URL, {"action": "view"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(row["action"], row["actor"], row["object_id"]) for row in rows] == [
        ("view", "lena", entry.object_id)
    ]
    assert json.loads(rows[0]["detail"]) == {"via": "console"}
    everything = b"".join(client.get(EXPORT_URL).streaming_content).decode()
    assert len(list(csv.DictReader(io.StringIO(everything)))) >= 2


def test_the_csv_export_writes_formulas_as_text(admin_user):
    Detector.objects.create(name='=HYPERLINK("http://x")', kind="pattern", category="other")
    body = b"".join(client_for(admin_user).get(EXPORT_URL).streaming_content).decode()
    [row] = [
        r for r in csv.DictReader(io.StringIO(body)) if r["object_type"] == "detection.detector"
    ]
    assert row["object"].startswith("'=HYPERLINK")


def test_a_bad_filter_on_the_export_answers_400(entry, admin_user):
    assert client_for(admin_user).get(EXPORT_URL, {"created_at__year": "x"}).status_code == 400


def test_reviewers_and_staff_without_the_permission_do_not_see_the_log(entry, reviewer):
    for url in (LIST_URL, EXPORT_URL):
        response = client_for(reviewer).get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    staff = User.objects.create_user("staff", password="pw", is_staff=True)
    assert client_for(staff).get(LIST_URL).status_code == 403
    assert client_for(staff).get(EXPORT_URL).status_code == 403


def test_the_admin_group_may_view_the_log_and_nothing_more(admin_user):
    assert admin_user.has_perm("review.view_auditentry")
    for action in ("add", "change", "delete"):
        assert not admin_user.has_perm(f"review.{action}_auditentry")
