"""The admin role in the admin: members of the "admin" group, neither staff nor superusers, get
in and configure what the README says admins configure; no other role gets in."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from review.models import Category
from tests.review.conftest import PASSWORD, client_for
from traces.models import ApiToken
from traces.services import issue_token

pytestmark = pytest.mark.django_db


def test_a_member_of_the_admin_group_reaches_the_admin(admin_user):
    assert not admin_user.is_staff and not admin_user.is_superuser
    response = client_for(admin_user).get(reverse("admin:index"))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "admin:detection_detector_changelist",
        "admin:detection_detector_add",
        "admin:review_category_changelist",
        "admin:review_category_add",
        "admin:review_queue_changelist",
        "admin:traces_apitoken_changelist",
        "admin:traces_source_changelist",
        "admin:review_label_changelist",
        "admin:review_datasetversion_changelist",
        "admin:review_alertrule_changelist",
        "admin:review_alertrule_add",
        "admin:review_alert_changelist",
    ],
)
def test_admins_open_every_page_the_readme_gives_them(admin_user, url):
    assert client_for(admin_user).get(reverse(url)).status_code == 200


def test_admins_edit_the_taxonomy(admin_user):
    category = Category.objects.get(slug="sandbagging")
    response = client_for(admin_user).post(
        reverse("admin:review_category_change", args=[category.pk]),
        {"name": "Sandbagging", "slug": "sandbagging", "position": 4, "description": ""},
    )
    assert response.status_code == 302
    category.refresh_from_db()
    assert not category.active  # the checkbox was left out: turned off


def test_admins_revoke_a_token(admin_user, source):
    token, _ = issue_token(scope=ApiToken.Scope.INGEST, source=source, name="leaked")
    response = client_for(admin_user).post(
        reverse("admin:traces_apitoken_change", args=[token.pk]),
        {"name": "leaked", "revoked": "on"},
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked


def test_admins_cannot_edit_traces_or_people(admin_user):
    client = client_for(admin_user)
    assert client.get(reverse("admin:auth_user_changelist")).status_code == 403
    assert client.get(reverse("admin:traces_trace_add")).status_code == 403


def test_signing_in_to_the_admin_takes_the_admin_role(client, admin_user, reviewer):
    response = client.post(
        reverse("admin:login"), {"username": admin_user.username, "password": PASSWORD}
    )
    assert response.status_code == 302
    refused = client_for(reviewer).post(
        reverse("admin:login"), {"username": reviewer.username, "password": PASSWORD}
    )
    assert refused.status_code == 200
    assert "correct username and password" in refused.content.decode()


@pytest.mark.parametrize("who", ["labeler", "reviewer", "nobody"])
def test_other_roles_are_sent_to_the_admin_sign_in(who, request):
    response = client_for(request.getfixturevalue(who)).get(reverse("admin:index"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_the_demo_admin_is_an_ordinary_member_of_the_admin_group(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    User = get_user_model()
    User.objects.create_superuser("admin")  # as an earlier demo made it
    call_command("setup_demo", stdout=io.StringIO())
    admin = User.objects.get(username="admin")
    assert not admin.is_superuser and not admin.is_staff
    assert list(admin.groups.values_list("name", flat=True)) == ["admin"]
    client = client_for(admin)
    assert client.get(reverse("admin:review_category_changelist")).status_code == 200
    assert client.get(reverse("admin:traces_apitoken_changelist")).status_code == 200
