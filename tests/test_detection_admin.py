"""The detector admin: who may use it, the generated parameter form, "Try it", per-version counts.

The kinds used here are defined in this file (registered for each test, removed after), so the
form is tested as generic over msgspec structs, not against the built-in kinds' exact shapes.
"""

import enum
import json
import re
from html.parser import HTMLParser
from typing import Annotated, Literal

import msgspec
import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse
from django.utils.datastructures import MultiValueDict

from detection import services
from detection.admin import highlight
from detection.engine import KINDS, DetectorKind, Hit, ScanTrace
from detection.forms import DetectorForm
from detection.models import Detector, Finding
from detection.services import save_detector
from tests import detectors
from tests.samples import body, trace
from traces.roles import ADMIN, is_admin
from traces.schema import DocumentError

pytestmark = pytest.mark.django_db


# --- A test kind with nested parameters -----------------------------------------------------


class Rule(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1)]
    regexes: list[str] = msgspec.field(default_factory=list)
    phrases: list[str] = msgspec.field(default_factory=list)
    score: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.5
    category: str = ""
    rationale: str = ""


class Window(msgspec.Struct, forbid_unknown_fields=True):
    steps: Annotated[int, msgspec.Meta(ge=1, le=50)] = 5
    case_sensitive: bool = False


def _default_rules() -> list[Rule]:
    return [Rule(name="exit_zero", regexes=[r"sys\.exit\(0\)"], score=0.9)]


class RuleParams(msgspec.Struct, forbid_unknown_fields=True):
    rules: list[Rule] = msgspec.field(default_factory=_default_rules)
    mode: Literal["first", "all"] = "all"
    min_score: (
        Annotated[float, msgspec.Meta(ge=0, le=1, description="Drop weaker hits.")] | None
    ) = None
    window: Window = msgspec.field(default_factory=Window)
    note: str = "Flags plans to force a passing exit code.\nEdited by the safety team."


class RuleKind(DetectorKind):
    """Regexes and phrases per rule; its ``validate`` compiles every regex."""

    name = "test_rules"
    label = "Rules (tests)"
    description = "Regular expressions and phrases, per rule."
    Params = RuleParams

    @classmethod
    def validate(cls, params: msgspec.Struct) -> None:
        assert isinstance(params, RuleParams)
        for i, rule in enumerate(params.rules):
            for j, regex in enumerate(rule.regexes):
                try:
                    re.compile(regex)
                except re.error as exc:
                    raise DocumentError(
                        f"rules[{i}].regexes[{j}]", f"invalid regular expression: {exc}"
                    ) from None

    def scan(self, trace: ScanTrace) -> list[Hit]:
        p = self.params
        flags = 0 if p.window.case_sensitive else re.IGNORECASE
        hits = []
        for step in self.steps(trace):
            for rule in p.rules:
                patterns = [*rule.regexes, *(re.escape(phrase) for phrase in rule.phrases)]
                for pattern in patterns:
                    for match in re.finditer(pattern, step.content, flags):
                        reason = rule.rationale or f"rule {rule.name}"
                        hits.append(
                            Hit(step.index, *match.span(), rule.score, rule.category, reason)
                        )
        if p.min_score is not None:
            hits = [h for h in hits if h.score >= p.min_score]
        return hits


@pytest.fixture(autouse=True)
def test_kinds(no_seeded_detectors):
    KINDS[RuleKind.name] = RuleKind
    detectors.install()
    yield
    KINDS.pop(RuleKind.name, None)
    detectors.uninstall()


# --- Users, pages and posts -----------------------------------------------------------------


@pytest.fixture
def staff_client(client):
    """A staff user outside the admin group: the admin site lets them in, detectors do not."""
    user = User.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(user)
    return client


@pytest.fixture
def group_admin_client(client):
    """Not a superuser: a staff member of the "admin" group."""
    user = User.objects.create_user("grouped", password="pw", is_staff=True)
    user.groups.add(Group.objects.get_or_create(name=ADMIN)[0])
    client.force_login(user)
    return client


LIST_URL = reverse("admin:detection_detector_changelist")
ADD_URL = reverse("admin:detection_detector_add")


def add_url(kind: str = "test_rules") -> str:
    return f"{ADD_URL}?kind={kind}"


def change_url(detector: Detector) -> str:
    return reverse("admin:detection_detector_change", args=[detector.pk])


class FormReader(HTMLParser):
    """What a browser would submit for the detector form as the page shows it."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._in_form = False
        self._textarea: str | None = None
        self._select: str | None = None

    def _add(self, name: str, value: str) -> None:
        self.data.setdefault(name, []).append(value)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "form" and a.get("id") == "detector_form":
            self._in_form = True
        if not self._in_form or ("name" not in a and tag != "option"):
            return
        if tag == "input":
            kind = a.get("type", "text")
            if kind in ("submit", "button"):
                return
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self._add(a["name"], a.get("value") or "on")
                return
            self._add(a["name"], a.get("value") or "")
        elif tag == "textarea":
            self._textarea = a["name"]
            self._add(self._textarea, "")
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select and "selected" in a:
            self._add(self._select, a.get("value", ""))

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.data[self._textarea][-1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea" and self._textarea:
            text = self.data[self._textarea][-1]
            self.data[self._textarea][-1] = text.removeprefix("\n")  # as HTML parsing drops it
            self._textarea = None
        elif tag == "select":
            self._select = None
        elif tag == "form":
            self._in_form = False


def shown_form(response) -> dict[str, list[str]]:
    reader = FormReader()
    reader.feed(response.content.decode())
    reader.data.pop("csrfmiddlewaretoken", None)
    return reader.data


def ingest(client, doc: dict) -> int:
    response = client.post("/api/v1/traces/", data=body(doc), content_type="application/json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def rules_detector(**fields) -> Detector:
    defaults = {
        "name": "exits",
        "kind": "test_rules",
        "params": msgspec.to_builtins(RuleParams()),
        "category": "reward_hacking",
        "severity": 3,
        "step_kinds": ["reasoning"],
    }
    return Detector.objects.create(**(defaults | fields))


def hacking_trace(**fields) -> dict:
    return trace(
        steps=[
            {"kind": "user", "content": "Make the failing test pass"},
            {
                "kind": "reasoning",
                "content": "The parser is hard. I will call sys.exit(0) before the asserts run.",
            },
            {"kind": "assistant", "content": "Fixed: all tests pass."},
        ],
        **fields,
    )


# --- Who may use it -------------------------------------------------------------------------


def test_staff_outside_the_admin_group_gets_403_on_every_detector_page(staff_client):
    detector = rules_detector()
    assert staff_client.get(LIST_URL).status_code == 403
    assert staff_client.get(ADD_URL).status_code == 403
    assert staff_client.get(add_url()).status_code == 403
    assert staff_client.get(change_url(detector)).status_code == 403
    tried = staff_client.post(change_url(detector), {"_try": "recent", "try_last": "5"})
    assert tried.status_code == 403
    assert staff_client.post(add_url(), {"_try": "paste"}).status_code == 403
    deleted = reverse("admin:detection_detector_delete", args=[detector.pk])
    assert staff_client.get(deleted).status_code == 403
    assert staff_client.get(reverse("admin:detection_finding_changelist")).status_code == 403
    assert staff_client.get(reverse("admin:detection_detectionrun_changelist")).status_code == 403


def test_members_of_the_admin_group_may_configure_detectors(group_admin_client):
    detector = rules_detector()
    assert group_admin_client.get(LIST_URL).status_code == 200
    assert group_admin_client.get(add_url()).status_code == 200
    assert group_admin_client.get(change_url(detector)).status_code == 200


def test_is_admin_is_superusers_and_the_admin_group():
    plain = User.objects.create_user("plain", is_staff=True)
    boss = User.objects.create_superuser("boss")
    member = User.objects.create_user("member")
    member.groups.add(Group.objects.get_or_create(name=ADMIN)[0])
    gone = User.objects.create_superuser("gone", is_active=False)
    assert [is_admin(u) for u in (plain, boss, member, gone)] == [False, True, True, False]


# --- Adding: kind first, then its fields ----------------------------------------------------


def test_the_add_page_first_asks_for_the_kind(admin_client):
    response = admin_client.get(ADD_URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'href="{ADD_URL}?kind=test_rules"' in html
    assert "Rules (tests)" in html
    unknown = admin_client.get(f"{ADD_URL}?kind=nope")
    assert "no detector kind named" in unknown.content.decode()


def test_the_add_page_shows_the_kinds_fields_with_their_defaults(admin_client):
    data = shown_form(admin_client.get(add_url()))
    assert data["params-rules-0-name"] == ["exit_zero"]
    assert data["params-rules-0-regexes"] == [r"sys\.exit\(0\)"]
    assert data["params-rules-0-score"] == ["0.9"]
    assert data["params-rules-TOTAL"] == ["3"]  # the default rule and two blank ones
    assert data["params-rules-2-score"] == ["0.5"]
    assert data["params-mode"] == ["all"]
    assert data["params-min_score"] == [""]
    assert data["params-window-steps"] == ["5"]
    assert "params-window-case_sensitive" not in data  # unticked
    assert data["params-note"] == [RuleParams().note]
    assert not any(name == "params" for name in data)  # no raw JSON box


def test_a_new_detector_with_nested_list_params_is_stored_exactly(admin_client):
    data = shown_form(admin_client.get(add_url()))
    data |= {
        "name": ["planned exits"],
        "category": ["reward_hacking"],
        "severity": ["3"],
        "step_kinds": ["reasoning", "assistant"],
        "params-rules-0-regexes": ["sys\\.exit\\(0\\)\r\nos\\._exit\\(0\\)\r\n\r\n"],
        "params-rules-1-name": ["or_true"],
        "params-rules-1-phrases": ["|| true\nexit code 0"],
        "params-rules-1-score": ["0.7"],
        "params-rules-1-category": ["test_tampering"],
        "params-mode": ["first"],
        "params-min_score": ["0.6"],
        "params-window-steps": ["9"],
        "params-window-case_sensitive": ["on"],
        "params-note": ["Line one\nLine two"],
    }
    response = admin_client.post(add_url(), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    detector = Detector.objects.get()
    assert detector.kind == "test_rules"
    assert detector.step_kinds == ["reasoning", "assistant"]
    assert detector.version == 1
    assert detector.params == {
        "rules": [
            {
                "name": "exit_zero",
                "regexes": [r"sys\.exit\(0\)", r"os\._exit\(0\)"],
                "phrases": [],
                "score": 0.9,
                "category": "",
                "rationale": "",
            },
            {
                "name": "or_true",
                "regexes": [],
                "phrases": ["|| true", "exit code 0"],
                "score": 0.7,
                "category": "test_tampering",
                "rationale": "",
            },
        ],
        "mode": "first",
        "min_score": 0.6,
        "window": {"steps": 9, "case_sensitive": True},
        "note": "Line one\nLine two",
    }


def test_every_installed_kind_saves_its_defaults_unchanged(admin_client):
    """The form round-trips each kind's Params as the page shows them, built-in kinds included."""
    for number, (name, cls) in enumerate(sorted(KINDS.items())):
        if name == "classifier":  # its model must be named: test_classifier_detector_...
            continue
        page = admin_client.get(add_url(name))
        assert page.status_code == 200, name
        data = shown_form(page) | {"name": [f"d{number}"], "category": ["other"]}
        response = admin_client.post(add_url(name), data)
        assert response.status_code == 302, (name, response.context["adminform"].form.errors)
        stored = Detector.objects.get(name=f"d{number}")
        assert stored.params == msgspec.to_builtins(cls.Params()), name


def test_classifier_detector_needs_a_stored_model_named_on_its_field(admin_client):
    from detection.classifiers import classifier_save
    from detection.learning import train
    from tests.detection.test_classifier import SMALL, examples

    data = shown_form(admin_client.get(add_url("classifier")))
    data |= {"name": ["Learned"], "category": ["reward_hacking"], "params-name": ["lab"]}
    response = admin_client.post(add_url("classifier"), data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["params-name"] == ["name: no model named 'lab'"]
    assert not Detector.objects.filter(name="Learned").exists()

    model = classifier_save(name="lab", training=train(examples(), SMALL), trained_on="lab set")
    response = admin_client.post(add_url("classifier"), data | {"params-version": ["1"]})
    assert response.status_code == 302
    stored = Detector.objects.get(name="Learned")
    assert stored.params["name"] == "lab" and stored.params["version"] == model.version
    page = admin_client.get(reverse("admin:detection_classifiermodel_change", args=[model.pk]))
    assert page.status_code == 200 and model.pipeline_sha256 in page.content.decode()


def test_an_invalid_regex_is_shown_on_its_field_and_nothing_is_stored(admin_client):
    data = shown_form(admin_client.get(add_url()))
    data |= {
        "name": ["broken"],
        "category": ["reward_hacking"],
        "params-rules-1-name": ["second"],
        "params-rules-1-regexes": ["fine\n(unclosed"],
    }
    response = admin_client.post(add_url(), data)
    assert response.status_code == 200
    assert Detector.objects.count() == 0
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["params-rules-1-regexes"]
    assert errors["params-rules-1-regexes"][0].startswith(
        "rules[1].regexes[1]: invalid regular expression"
    )
    html = response.content.decode()
    field_row = html.index('class="form-row errors field-params-rules-1-regexes"')
    assert html.index("rules[1].regexes[1]: invalid regular expression") > field_row


def test_an_error_after_a_removed_rule_names_the_group_the_page_shows(admin_client):
    detector = rules_detector()
    data = shown_form(admin_client.get(change_url(detector)))
    data |= {
        "params-rules-0-REMOVE": ["on"],
        "params-rules-1-name": ["second"],
        "params-rules-1-regexes": ["[z-a]"],
    }
    response = admin_client.post(change_url(detector), data)
    errors = response.context["adminform"].form.errors
    assert errors["params-rules-1-regexes"][0].startswith("rules[1].regexes[0]: invalid")


def test_constraint_and_required_errors_land_on_their_fields(admin_client):
    data = shown_form(admin_client.get(add_url()))
    data |= {
        "name": ["x"],
        "category": ["Not A Slug"],
        "step_kinds": ["thoughts"],
        "params-rules-0-score": ["1.5"],
        "params-rules-1-regexes": ["a"],  # a new rule without its required name
        "params-window-steps": [""],
    }
    response = admin_client.post(add_url(), data)
    errors = response.context["adminform"].form.errors
    assert "lowercase letters" in errors["category"][0]
    assert "thoughts" in errors["step_kinds"][0]
    assert "less than or equal to 1" in errors["params-rules-0-score"][0]
    assert errors["params-window-steps"] == ["This field is required."]
    assert Detector.objects.count() == 0

    data |= {"category": ["reward_hacking"], "step_kinds": [], "params-rules-0-score": ["1"]}
    data |= {"params-window-steps": ["5"]}
    response = admin_client.post(add_url(), data)
    errors = response.context["adminform"].form.errors
    assert errors == {"params-rules-1-name": ["rules[1].name: required"]}


def test_removed_rules_and_untouched_blank_ones_are_dropped(admin_client):
    detector = rules_detector(
        params={"rules": [{"name": "a", "regexes": ["a"]}, {"name": "b", "regexes": ["b"]}]}
    )
    data = shown_form(admin_client.get(change_url(detector)))
    assert data["params-rules-TOTAL"] == ["4"]
    data["params-rules-0-REMOVE"] = ["on"]
    response = admin_client.post(change_url(detector), data)
    assert response.status_code == 302
    detector.refresh_from_db()
    assert [rule["name"] for rule in detector.params["rules"]] == ["b"]


# --- Versions -------------------------------------------------------------------------------


def test_editing_params_bumps_the_version(admin_client):
    detector = rules_detector()
    data = shown_form(admin_client.get(change_url(detector)))
    data["params-rules-0-score"] = ["0.8"]
    assert admin_client.post(change_url(detector), data).status_code == 302
    detector.refresh_from_db()
    assert detector.version == 2
    assert detector.params["rules"][0]["score"] == 0.8


def test_editing_only_the_name_keeps_the_version(admin_client):
    # Stored sparse, as an older form or the API might: the defaults it omits are no change.
    detector = rules_detector(params={"mode": "all"})
    data = shown_form(admin_client.get(change_url(detector)))
    data["name"] = ["renamed"]
    assert admin_client.post(change_url(detector), data).status_code == 302
    detector.refresh_from_db()
    assert (detector.name, detector.version) == ("renamed", 1)


def test_changed_fields_name_model_fields_and_params(admin_client):
    detector = rules_detector()
    data = shown_form(admin_client.get(change_url(detector)))
    data |= {"severity": ["4"], "params-mode": ["first"]}
    form_class = type("Form", (DetectorForm,), {"kind": "test_rules"})
    form = form_class(MultiValueDict(data), instance=detector)
    assert form.is_valid(), form.errors
    assert sorted(form.changed_fields()) == ["params", "severity"]


def test_blank_rules_are_offered_again_after_a_try_fills_them(admin_client):
    data = shown_form(admin_client.get(add_url()))
    data |= {"name": ["x"], "category": ["other"], "try_last": ["1"], "_try": ["recent"]}
    data |= {"params-rules-1-name": ["b"], "params-rules-2-name": ["c"]}
    tried = shown_form(admin_client.post(add_url(), data))
    assert tried["params-rules-TOTAL"] == ["5"]
    assert tried["params-rules-2-name"] == ["c"]
    assert tried["params-rules-4-name"] == [""]
    assert tried["params-rules-4-score"] == ["0.5"]  # a new blank shows the defaults
    tried |= {"params-rules-3-name": ["d"]}
    response = admin_client.post(add_url(), tried)
    assert response.status_code == 302, response.context["adminform"].form.errors
    names = [rule["name"] for rule in Detector.objects.get().params["rules"]]
    assert names == ["exit_zero", "b", "c", "d"]


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Depth(msgspec.Struct, forbid_unknown_fields=True):
    levels: int = 1


class VariedParams(msgspec.Struct, forbid_unknown_fields=True):
    """One field of each shape the form generator knows, and one it shows as JSON."""

    severities: list[Literal["low", "high"]] = msgspec.field(default_factory=lambda: ["low"])
    weights: dict[str, float] = msgspec.field(default_factory=lambda: {"exit": 0.5})
    counts: list[int] = msgspec.field(default_factory=lambda: [1, 2])
    size: Literal[1, 2, 3] = 2
    strict: bool | None = None
    colour: Colour = Colour.RED
    depth: Depth | None = None
    label: str | None = None
    limits: list[list[int]] = msgspec.field(default_factory=lambda: [[1, 2]])


class VariedKind(DetectorKind):
    name = "test_varied"
    label = "Varied (tests)"
    Params = VariedParams

    def scan(self, trace: ScanTrace) -> list[Hit]:
        return []


def test_every_field_shape_becomes_a_form_field_and_back(admin_client):
    KINDS[VariedKind.name] = VariedKind
    try:
        data = shown_form(admin_client.get(add_url("test_varied")))
        assert data["params-weights"] == ["exit: 0.5"]
        assert data["params-severities"] == ["low"]
        assert data["params-strict"] == ["unknown"]
        assert "params-depth-SET" not in data
        data |= {
            "name": ["varied"],
            "category": ["other"],
            "params-severities": ["low", "high"],
            "params-weights": ["exit: 0.7\nskip: 1"],
            "params-counts": ["3\n\n4"],
            "params-size": ["3"],
            "params-strict": ["true"],
            "params-colour": ["blue"],
            "params-depth-SET": ["on"],
            "params-depth-levels": ["4"],
            "params-limits": ["[[5]]"],
        }
        response = admin_client.post(add_url("test_varied"), data)
        assert response.status_code == 302, response.context["adminform"].form.errors
        assert Detector.objects.get().params == {
            "severities": ["low", "high"],
            "weights": {"exit": 0.7, "skip": 1.0},
            "counts": [3, 4],
            "size": 3,
            "strict": True,
            "colour": "blue",
            "depth": {"levels": 4},
            "label": None,
            "limits": [[5]],
        }
        bad = admin_client.post(add_url("test_varied"), data | {"params-weights": ["exit 0.7"]})
        errors = bad.context["adminform"].form.errors
        assert errors["params-weights"] == ["Line 1: write it as name: value."]
    finally:
        KINDS.pop(VariedKind.name, None)


# --- Enable and disable ---------------------------------------------------------------------


def test_enable_and_disable_actions(admin_client):
    on = rules_detector(name="on")
    off = rules_detector(name="off", enabled=False)
    ids = [str(on.pk), str(off.pk)]
    response = admin_client.post(LIST_URL, {"action": "disable_selected", "_selected_action": ids})
    assert response.status_code == 302
    assert list(Detector.objects.values_list("enabled", flat=True)) == [False, False]
    admin_client.post(LIST_URL, {"action": "enable_selected", "_selected_action": ids})
    assert list(Detector.objects.values_list("enabled", "version")) == [(True, 1), (True, 1)]


def test_the_list_page_runs_a_fixed_number_of_queries(
    admin_client, ingest_client, django_assert_max_num_queries
):
    trace_id = ingest(ingest_client, hacking_trace())
    for number in range(8):
        rules_detector(name=f"exits {number}")
    services.detect_trace(trace_id=trace_id)
    with django_assert_max_num_queries(7):
        response = admin_client.get(LIST_URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Rules (tests) (test_rules)" in html
    assert '<td class="field-findings_count">1</td>' in html


# --- Try it ---------------------------------------------------------------------------------


def test_try_on_a_pasted_trace_shows_the_evidence_marked_and_saves_nothing(admin_client):
    data = shown_form(admin_client.get(add_url()))
    data |= {
        "name": ["planned exits"],
        "category": ["reward_hacking"],
        "step_kinds": ["reasoning"],
        "try_trace": [json.dumps(hacking_trace())],
        "_try": ["paste"],
    }
    before = Detector.objects.count()
    response = admin_client.post(add_url(), data)
    assert response.status_code == 200
    assert Detector.objects.count() == before == 0
    html = response.content.decode()
    assert "<mark>sys.exit(0)</mark>" in html
    assert "I will call <mark>" in html  # with its context
    trial = response.context["trial"]
    assert [(h.trace, h.step_index, h.step_kind, h.score) for h in trial.hits] == [
        ("run-1", 1, "reasoning", 0.9)
    ]
    assert trial.hits[0].category == "reward_hacking"
    assert trial.hits[0].rationale == "rule exit_zero"


def test_try_accepts_a_pattern_rules_own_severity_and_shows_it(admin_client):
    data = shown_form(admin_client.get(add_url("pattern")))
    assert data["params-rules-0-severity"] == ["3"]  # the built-in rule's
    data |= {
        "name": ["exits"],
        "category": ["reward_hacking"],
        "severity": ["1"],
        "step_kinds": ["reasoning"],
        "params-rules-0-name": ["planned_exit"],
        "params-rules-0-regexes": [r"sys\.exit\(0\)"],
        "params-rules-0-phrases": [""],
        "params-rules-0-severity": ["4"],
        "try_trace": [json.dumps(hacking_trace())],
        "_try": ["paste"],
    }
    response = admin_client.post(add_url("pattern"), data)
    assert response.status_code == 200
    hits = response.context["trial"].hits
    assert [h.severity for h in hits if "planned_exit" in h.rationale] == ["critical"]


def test_a_pattern_rules_severity_out_of_range_is_shown_on_its_field(admin_client):
    data = shown_form(admin_client.get(add_url("pattern")))
    data |= {
        "name": ["exits"],
        "category": ["reward_hacking"],
        "severity": ["1"],
        "params-rules-0-severity": ["9"],
    }
    response = admin_client.post(add_url("pattern"), data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "params-rules-0-severity" in errors
    assert not Detector.objects.filter(name="exits").exists()


def test_try_uses_the_unsaved_configuration(admin_client):
    detector = rules_detector()
    data = shown_form(admin_client.get(change_url(detector)))
    data |= {
        "params-rules-0-regexes": ["parser"],
        "try_trace": [json.dumps(hacking_trace())],
        "_try": ["paste"],
    }
    response = admin_client.post(change_url(detector), data)
    assert "The <mark>parser</mark> is hard" in response.content.decode()
    detector.refresh_from_db()
    assert detector.params["rules"][0]["regexes"] == [r"sys\.exit\(0\)"]
    assert detector.version == 1


def test_try_reads_other_formats(admin_client):
    chat = {
        "messages": [
            {"role": "user", "content": "Fix the test"},
            {"role": "assistant", "content": "Done: I made main() call sys.exit(0) early."},
        ]
    }
    data = shown_form(admin_client.get(add_url()))
    data |= {"name": ["x"], "category": ["other"], "try_trace": [json.dumps(chat)]}
    response = admin_client.post(add_url(), data | {"_try": ["paste"]})
    assert response.context["adminform"].form.errors == {}
    assert "<mark>sys.exit(0)</mark>" in response.content.decode()


def test_a_bad_paste_is_an_error_naming_the_field_path(admin_client):
    bad = hacking_trace()
    bad["steps"][1]["kind"] = "thinking"
    data = shown_form(admin_client.get(add_url()))
    data |= {"name": ["x"], "category": ["other"], "try_trace": [json.dumps(bad)]}
    response = admin_client.post(add_url(), data | {"_try": ["paste"]})
    errors = response.context["adminform"].form.errors
    assert errors["try_trace"][0].startswith("steps[1].kind: must be one of")
    assert "trial" not in response.context
    empty = admin_client.post(add_url(), data | {"try_trace": [""], "_try": ["paste"]})
    assert "Paste a trace" in empty.context["adminform"].form.errors["try_trace"][0]


def test_pasted_markup_is_escaped_in_the_results(admin_client):
    hostile = trace(
        steps=[
            {
                "kind": "reasoning",
                "content": "<script>alert(1)</script> then sys.exit(0) <img src=x onerror=f()>",
            }
        ],
        external_id="<b>run</b>",
    )
    data = shown_form(admin_client.get(add_url()))
    data |= {"name": ["x"], "category": ["other"], "try_trace": [json.dumps(hostile)]}
    response = admin_client.post(add_url(), data | {"_try": ["paste"]})
    results = response.content.decode().split('id="try-results"')[1]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; then <mark>sys.exit(0)</mark>" in results
    assert "<script>alert(1)" not in results
    assert "<img" not in results
    assert "&lt;b&gt;run&lt;/b&gt;" in results


def test_try_on_the_latest_stored_traces(admin_client, ingest_client):
    ingest(ingest_client, hacking_trace(external_id="oldest"))
    ingest(ingest_client, hacking_trace(external_id="middle"))
    ingest(ingest_client, trace(external_id="newest"))  # nothing to find
    data = shown_form(admin_client.get(add_url()))
    data |= {"name": ["x"], "category": ["other"], "try_last": ["2"], "_try": ["recent"]}
    response = admin_client.post(add_url(), data)
    trial = response.context["trial"]
    assert trial.scanned == 2
    assert [hit.trace for hit in trial.hits] == ["fleet-a:middle"]
    assert trial.hits[0].trace_url.startswith("/admin/traces/trace/")
    assert Detector.objects.count() == 0
    too_many = admin_client.post(add_url(), data | {"try_last": ["201"]})
    assert too_many.context["adminform"].form.errors == {
        "try_last": ["Enter a whole number from 1 to 200."]
    }
    # Only a try reads it: a stray value does not block saving.
    saved = admin_client.post(add_url(), data | {"try_last": ["201"], "_try": [""]})
    assert saved.status_code == 302


def test_a_detector_failing_during_a_try_is_reported_not_raised(admin_client):
    data = shown_form(admin_client.get(add_url("test_keyword")))
    data |= {"name": ["x"], "category": ["other"], "params-fail": ["on"]}
    data |= {"try_trace": [json.dumps(hacking_trace())], "_try": ["paste"]}
    response = admin_client.post(add_url("test_keyword"), data)
    assert response.status_code == 200
    assert "RuntimeError: the monitor answered garbage" in response.content.decode()


def test_highlight_shows_a_window_of_context_around_the_evidence():
    content = "a" * 300 + "EVIDENCE" + "b" * 300
    html = str(highlight(content, 300, 308))
    assert html == "\u2026" + "a" * 100 + "<mark>EVIDENCE</mark>" + "b" * 100 + "\u2026"
    assert str(highlight("<x> & y", None, None)) == "<mark>&lt;x&gt; &amp; y</mark>"


# --- Findings per version -------------------------------------------------------------------


def test_the_change_page_counts_findings_per_version(admin_client, ingest_client):
    first = ingest(
        ingest_client, trace(external_id="a", steps=[{"kind": "user", "content": "cheat cheat"}])
    )
    second = ingest(
        ingest_client, trace(external_id="b", steps=[{"kind": "user", "content": "cheat"}])
    )
    detector = Detector.objects.create(
        name="words", kind="test_keyword", params={"word": "cheat"}, category="other"
    )
    for trace_id in (first, second):
        services.detect_trace(trace_id=trace_id)
    detector.params = {"word": "cheat cheat"}
    save_detector(detector, changed=["params"])
    services.detect_trace(trace_id=first)
    detector.params = {"fail": True}
    save_detector(detector, changed=["params"])
    services.detect_trace(trace_id=second)

    response = admin_client.get(change_url(detector))
    rows = [
        (r.version, r.findings, r.traces, r.failed_runs) for r in response.context["version_counts"]
    ]
    assert rows == [(3, 0, 0, 1), (2, 1, 1, 0), (1, 3, 2, 0)]
    html = response.content.decode()
    assert "Findings per version" in html
    assert "<td>v1</td>\n        <td>3</td>\n        <td>2</td>" in html


def test_findings_and_runs_are_read_only_with_the_evidence_escaped(
    admin_client, ingest_client, django_assert_max_num_queries
):
    steps = [{"kind": "reasoning", "content": "<b>bold</b> plan: cheat"}]
    trace_id = ingest(ingest_client, trace(steps=steps))
    Detector.objects.create(
        name="words", kind="test_keyword", params={"word": "cheat"}, category="other"
    )
    services.detect_trace(trace_id=trace_id)
    finding = Finding.objects.get()
    with django_assert_max_num_queries(8):
        listed = admin_client.get(reverse("admin:detection_finding_changelist"))
    assert listed.status_code == 200
    page = admin_client.get(reverse("admin:detection_finding_change", args=[finding.pk]))
    html = page.content.decode()
    assert "&lt;b&gt;bold&lt;/b&gt; plan: <mark>cheat</mark>" in html
    assert 'name="_save"' not in html
    assert admin_client.get(reverse("admin:detection_finding_add")).status_code == 403
    with django_assert_max_num_queries(8):
        runs = admin_client.get(reverse("admin:detection_detectionrun_changelist"))
    assert runs.status_code == 200


def test_reset_gives_a_built_in_detector_this_releases_rules_as_a_new_version(admin_client):
    from detection.kinds import pattern

    builtin = Detector.objects.create(
        name=pattern.DEFAULT["name"],
        kind="pattern",
        params={"rules": [{"name": "old", "regexes": ["old rule"]}]},
        category=pattern.DEFAULT["category"],
        severity=pattern.DEFAULT["severity"],
        step_kinds=["reasoning"],
        enabled=False,
        version=2,
    )
    own = rules_detector(name="own")
    ids = [str(builtin.pk), str(own.pk)]

    response = admin_client.post(
        LIST_URL, {"action": "reset_selected", "_selected_action": ids}, follow=True
    )

    builtin.refresh_from_db()
    own_after = Detector.objects.get(pk=own.pk)
    assert builtin.params == pattern.DEFAULT["params"]
    assert builtin.step_kinds == pattern.DEFAULT["step_kinds"]
    assert builtin.version == 3 and not builtin.enabled  # the admin's switch is kept
    assert (own_after.params, own_after.version) == (own.params, own.version)
    text = response.content.decode()
    assert f"Reset: {builtin.name} (now v3)." in text
    assert "Not built in, left alone: own." in text

    admin_client.post(LIST_URL, {"action": "reset_selected", "_selected_action": ids[:1]})
    builtin.refresh_from_db()
    assert builtin.version == 3  # nothing changed, no new version
