"""Training the classifier in the admin: the form and its checks, a run end to end in-process,
a run's progress as a worker reports it, the comparison of held-out figures and promotion."""

import re
import uuid
from types import SimpleNamespace

import pytest
from celery import states
from django.urls import reverse
from kombu.exceptions import OperationalError

from config.celery import app as celery_app
from detection.classifiers import classifier_save
from detection.learning import TrainingError, train
from detection.models import ClassifierModel, Detector
from review import admin_training, training_runs
from review.datasets import services as datasets
from review.datasets.rows import split_of
from review.datasets.spec import parse_spec
from review.models import DatasetVersion
from review.training_runs import RunState, state_of
from tests.detection.test_classifier import GAMING, SMALL, examples
from tests.review.conftest import HTMX, client_for, make_trace, make_user
from tests.review.datasets import export, label
from tests.review.test_browser import Watched, chromium
from tests.review.test_train_classifier import HALVES, labeled_traces, steps_of
from traces.roles import ADMIN, LABELER

pytestmark = pytest.mark.django_db
__all__ = ["chromium"]  # the fixture, used by name

TRAIN = reverse("admin:detection_classifiermodel_train")


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):
    settings.TRACEWATCH_EXPORT_DIR = tmp_path / "exports"


@pytest.fixture(autouse=True)
def eager_tasks(monkeypatch):
    """Tasks in-process, as in the embedded default, whatever the broker."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)


@pytest.fixture
def admin_client(admin_user):
    return client_for(admin_user)


@pytest.fixture
def version(labeler) -> DatasetVersion:
    """A finished export of 32 traces labeled whole, half of them in the training split."""
    labeled_traces(labeler)
    return export(split=HALVES)


def form_data(version: DatasetVersion, **changes) -> dict:
    return {"version": version.pk, "name": "console", "window": 4, "holdout": 0.25, "seed": 0} | (
        changes
    )


def stored_model(name: str = "lab", **metrics) -> ClassifierModel:
    """A version of ``name`` fitted on the classifier tests' small set, its figures replaced
    by ``metrics`` when given."""
    model = classifier_save(name=name, training=train(examples(), SMALL), trained_on="the lab set")
    if metrics:
        ClassifierModel.objects.filter(pk=model.pk).update(metrics=metrics)
        model.refresh_from_db()
    return model


def run_url(response) -> str:
    assert response.status_code == 302, response.content
    return response["Location"]


# -- who may -------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["labeler", "reviewer", "nobody"])
def test_other_roles_get_403_on_every_training_page(who, request, version):
    model = stored_model()
    client = client_for(request.getfixturevalue(who))
    pages = [
        TRAIN,
        reverse("admin:detection_classifiermodel_run", args=[uuid.uuid4()]),
        reverse("admin:detection_classifiermodel_compare", args=[model.pk]),
    ]
    for url in pages:
        assert client.get(url).status_code == 403, url
    assert client.post(TRAIN, form_data(version)).status_code == 403
    promote = reverse("admin:detection_classifiermodel_promote", args=[model.pk])
    assert client.post(promote, {"confirm": "yes"}).status_code == 403
    assert ClassifierModel.objects.get(pk=model.pk).promoted_at is None
    assert ClassifierModel.objects.count() == 1


def test_signed_out_people_are_sent_to_the_admin_sign_in(client):
    response = client.get(TRAIN)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


# -- the form --------------------------------------------------------------------------------------


def test_the_form_shows_the_chosen_versions_training_split(admin_client, version):
    page = admin_client.get(TRAIN).content.decode()
    counts = re.search(r'split-misaligned">(\d+)<.*split-benign">(\d+)<', page)
    assert counts is not None
    # Of the 16 misaligned and 16 benign traces, those whose hash puts them in the training split.
    train_ids = [i for i in labeled_ids() if split_of("fleet", i, HALVES) == "train"]
    misaligned = sum(i.startswith("misaligned") for i in train_ids)
    assert 0 < misaligned < len(train_ids) < 32
    assert (int(counts[1]), int(counts[2])) == (misaligned, len(train_ids) - misaligned)
    assert f'hx-get="{TRAIN}?counts=1"' in page
    # On choosing a version, htmx asks for its counts alone.
    fragment = admin_client.get(TRAIN, {"counts": 1, "version": version.pk}, **HTMX)
    assert fragment.content.decode().lstrip().startswith('<div id="split-counts"')
    assert "<form" not in fragment.content.decode()
    assert not ClassifierModel.objects.exists()  # nothing is trained by looking


def labeled_ids() -> list[str]:
    return [f"{verdict}-{i}" for verdict in ("misaligned", "benign") for i in range(16)]


def test_existing_model_names_are_offered(admin_client, version):
    stored_model("lab")
    page = admin_client.get(TRAIN).content.decode()
    assert 'list="classifier-names"' in page
    assert '<option value="lab">' in page


def test_embeddings_are_offered_disabled_with_the_reason_when_the_extra_is_missing(
    admin_client, version, monkeypatch
):
    monkeypatch.setattr(
        "review.forms_training.embeddings_missing", lambda: "needs the optional extra"
    )
    page = admin_client.get(TRAIN).content.decode()
    checkbox = re.search(r'<input type="checkbox" name="embeddings"[^>]*>', page)
    assert checkbox is not None and "disabled" in checkbox[0]
    assert "Not available: needs the optional extra." in page
    # Sent anyway, it is ignored: the task is not asked for embeddings.
    started = []
    monkeypatch.setattr(
        admin_training,
        "training_run_start",
        lambda **kwargs: started.append(kwargs) or (str(uuid.uuid4()), None),
    )
    admin_client.post(TRAIN, form_data(version, embeddings="on"))
    assert started and started[0]["params"].embeddings is False


@pytest.fixture
def no_run_started(monkeypatch) -> list:
    started: list = []
    monkeypatch.setattr(admin_training, "training_run_start", lambda **kw: started.append(kw))
    return started


def test_a_version_not_finished_is_a_form_error_and_nothing_is_queued(
    admin_client, version, no_run_started
):
    pending = datasets.request_export(spec=parse_spec({"name": "tampering"}))
    response = admin_client.post(TRAIN, form_data(pending))
    assert response.status_code == 200
    assert "Choose a finished dataset version" in response.context["form"].errors["version"][0]
    assert not no_run_started and not ClassifierModel.objects.exists()


def test_a_training_split_of_one_class_is_a_form_error_and_nothing_is_queued(
    admin_client, labeler, no_run_started
):
    for i, text in enumerate(GAMING):
        steps = [(step["kind"], step["content"]) for step in steps_of(text)]
        label(labeler, make_trace(steps, external_id=f"g{i}", searchable=False), None, "misaligned")
    one_class = export(split={"train": 1.0})
    response = admin_client.post(TRAIN, form_data(one_class))
    assert response.status_code == 200
    error = response.context["form"].errors["version"][0]
    assert f"has no benign traces ({len(GAMING)} misaligned, 0 benign)" in error
    assert not no_run_started and not ClassifierModel.objects.exists()


def test_a_version_whose_file_is_gone_is_a_form_error(admin_client, version, no_run_started):
    (datasets.export_root() / version.file).unlink()
    response = admin_client.post(TRAIN, form_data(version))
    assert response.status_code == 200
    assert "is missing" in response.context["form"].errors["version"][0]
    assert not no_run_started


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("window", 0, "must be 1 to 50 steps"),
        ("holdout", 1, "must be a share between 0 and 1"),
        ("seed", -1, "greater than or equal to 0"),
        ("name", "bad name!", "letters, numbers, underscores or hyphens"),
    ],
)
def test_parameters_out_of_range_are_errors_on_their_field(
    admin_client, version, no_run_started, field, value, message
):
    response = admin_client.post(TRAIN, form_data(version, **{field: value}))
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert not no_run_started


# -- a run ----------------------------------------------------------------------------------------


def test_a_run_in_process_trains_and_its_page_links_to_the_new_version(admin_client, version):
    url = run_url(admin_client.post(TRAIN, form_data(version, window=2, seed=5)))
    model = ClassifierModel.objects.get(name="console")
    assert (model.version, model.promoted_at) == (1, None)
    assert (model.parameters["window"], model.parameters["seed"]) == (2, 5)
    assert model.parameters["holdout"] == 0.25
    assert "training split" in model.trained_on
    page = admin_client.get(url).content.decode()
    assert "Trained: console v1." in page
    assert reverse("admin:detection_classifiermodel_compare", args=[model.pk]) in page
    assert "hx-trigger" not in page  # finished: nothing to poll
    assert "had already been trained" not in page
    # The same data and parameters again: the version already stored.
    again = admin_client.get(
        run_url(admin_client.post(TRAIN, form_data(version, window=2, seed=5)))
    )
    assert "had already been trained" in again.content.decode()
    assert ClassifierModel.objects.count() == 1


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        # Training's own message, escaped: it may quote what it read.
        (
            TrainingError("no traces left to hold out: <script>alert(1)</script>"),
            "Training failed: no traces left to hold out: &lt;script&gt;alert(1)&lt;/script&gt;",
        ),
        # Anything else is named with its kind, never a server error.
        (RuntimeError("disk on fire"), "Training failed: RuntimeError: disk on fire"),
    ],
)
def test_a_failed_run_shows_why_on_its_page(admin_client, version, monkeypatch, error, shown):
    def fail(**kwargs):
        raise error

    monkeypatch.setattr("review.training.train_from_dataset", fail)
    response = admin_client.get(run_url(admin_client.post(TRAIN, form_data(version))))
    assert response.status_code == 200
    page = response.content.decode()
    assert shown in page and "<script>alert" not in page
    assert not ClassifierModel.objects.exists()


def test_a_run_on_a_worker_polls_its_stage_then_shows_the_outcome(
    admin_client, version, monkeypatch
):
    """With a broker the page follows the state the worker records, until it ends."""
    monkeypatch.setattr(
        admin_training, "training_run_start", lambda **kw: (str(uuid.uuid4()), None)
    )
    url = run_url(admin_client.post(TRAIN, form_data(version)))
    reported = [RunState("queued"), RunState("running", stage="reading", done=3, total=8)]
    monkeypatch.setattr(admin_training, "training_run_state", lambda run_id: reported[0])
    page = admin_client.get(url).content.decode()
    assert "Queued: waiting for a worker" in page
    assert f'hx-get="{url}?status=1" hx-trigger="every 1s"' in page
    reported.pop(0)
    fragment = admin_client.get(url, {"status": 1}, **HTMX).content.decode()
    assert fragment.lstrip().startswith('<div id="training-status"')
    assert "Running: reading, 3 of 8" in fragment and 'hx-trigger="every 1s"' in fragment
    model = stored_model("console")
    reported[0] = RunState("done", model_id=model.pk)
    fragment = admin_client.get(url, {"status": 1}, **HTMX).content.decode()
    assert "Trained: console v1." in fragment and "hx-trigger" not in fragment
    # Once finished, the outcome is kept: the result backend need not remember it.
    reported[0] = RunState("queued")
    assert "Trained: console v1." in admin_client.get(url).content.decode()


def test_with_a_broker_the_run_is_queued_under_the_id_its_page_polls(
    admin_client, version, monkeypatch
):
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    sent = []
    monkeypatch.setattr(training_runs.train_classifier, "apply_async", lambda **kw: sent.append(kw))
    monkeypatch.setattr(admin_training, "training_run_state", lambda run_id: RunState("queued"))
    url = run_url(admin_client.post(TRAIN, form_data(version, seed=9)))
    [message] = sent
    assert url == reverse("admin:detection_classifiermodel_run", args=[message["task_id"]])
    version_id, name, params = message["args"]
    assert (version_id, name, params["seed"], params["holdout"]) == (version.pk, "console", 9, 0.25)
    assert "Queued: waiting for a worker" in admin_client.get(url).content.decode()


def test_a_broker_out_of_reach_is_a_form_error_and_nothing_is_stored(
    admin_client, version, monkeypatch
):
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)

    def unreachable(**kwargs):
        raise OperationalError("Error 111 connecting to localhost:6379. Connection refused.")

    monkeypatch.setattr(training_runs.train_classifier, "apply_async", unreachable)
    response = admin_client.post(TRAIN, form_data(version))
    assert response.status_code == 200
    assert "could not be queued" in response.context["form"].non_field_errors()[0]
    assert not ClassifierModel.objects.exists()


def test_a_run_not_started_in_this_session_is_not_found(admin_client):
    url = reverse("admin:detection_classifiermodel_run", args=[uuid.uuid4()])
    assert admin_client.get(url).status_code == 404


def test_a_result_backend_out_of_reach_leaves_the_run_unknown(monkeypatch):
    def unreachable(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to localhost:6379")

    monkeypatch.setattr(training_runs, "AsyncResult", unreachable)
    state = training_runs.training_run_state(str(uuid.uuid4()))
    assert state.state == "unknown" and not state.finished
    assert "6379" in state.error


@pytest.mark.parametrize(
    ("state", "info", "expected"),
    [
        (states.PENDING, None, RunState("queued")),
        (
            "PROGRESS",
            {"stage": "fitting", "done": 1, "total": 2},
            RunState("running", "fitting", 1, 2),
        ),
        (states.SUCCESS, {"id": 7, "name": "x", "version": 2}, RunState("done", model_id=7)),
        (
            states.FAILURE,
            TrainingError("both classes needed"),
            RunState("failed", error="both classes needed"),
        ),
        (states.FAILURE, KeyError("pk"), RunState("failed", error="KeyError: 'pk'")),
        (states.REVOKED, None, RunState("failed", error="the task was revoked")),
    ],
)
def test_celery_states_read_as_a_runs_state(state, info, expected):
    assert state_of(SimpleNamespace(state=state, info=info)) == expected


# -- comparing and promoting -------------------------------------------------------------------


def held_out(auroc, precision, brier, bins) -> dict:
    reliability = [
        {
            "low": b / 10,
            "high": (b + 1) / 10,
            "traces": 0,
            "mean_score": None,
            "misaligned_rate": None,
        }
        for b in range(10)
    ]
    for b, traces, mean, rate in bins:
        reliability[b] |= {"traces": traces, "mean_score": mean, "misaligned_rate": rate}
    return {
        "split": "0.2 of each class, seed 0",
        "train": {"traces": 40, "misaligned": 10, "benign": 30, "windows": 120},
        "held_out": {
            "traces": 10,
            "misaligned": 3,
            "benign": 7,
            "auroc": auroc,
            "precision_at_90_recall": precision,
            "threshold_at_90_recall": 0.41,
            "brier": brier,
            "reliability": reliability,
        },
    }


def test_the_comparison_sets_the_figures_beside_the_promoted_versions(admin_client):
    running = stored_model("lab", **held_out(0.8125, 0.5, 0.21, [(1, 7, 0.12, 0.0)]))
    running.promoted_at = running.created_at
    running.save()
    new = stored_model(
        "lab", **held_out(0.95238, 2 / 3, 0.08765, [(0, 6, 0.05, 0.0), (9, 4, 0.93, 0.75)])
    )
    # A later promotion of another name is not the one compared with.
    ClassifierModel.objects.filter(pk=stored_model("other").pk).update(promoted_at=new.created_at)
    response = admin_client.get(reverse("admin:detection_classifiermodel_compare", args=[new.pk]))
    assert response.status_code == 200
    rows = {label: (mine, theirs) for label, mine, theirs in response.context["rows"]}
    assert rows["AUROC"] == ("0.952", "0.812")
    assert rows["Precision at 90% recall"] == ("0.667", "0.500")
    assert rows["Brier score (lower is better)"] == ("0.0877", "0.2100")
    assert rows["Held-out traces"] == ("10", "10")
    reliability = dict(response.context["reliability"])
    assert reliability["0.9 to 1.0"] == ["4", "0.930", "0.750", "0", "", ""]
    assert reliability["0.1 to 0.2"] == ["0", "", "", "7", "0.120", "0.000"]
    page = response.content.decode()
    assert "lab v1 (promoted)" in page and "Promote lab v2" in page
    assert 'action="' + reverse("admin:detection_classifiermodel_promote", args=[new.pk]) in page


def test_the_promoted_version_is_shown_alone_without_a_promote_button(admin_client):
    model = stored_model("lab")
    model.promoted_at = model.created_at
    model.save()
    page = admin_client.get(reverse("admin:detection_classifiermodel_compare", args=[model.pk]))
    assert "lab v1 is the promoted version" in page.content.decode()
    assert "Promote lab v1" not in page.content.decode()


def test_promotion_is_a_confirmed_post_that_moves_the_following_detectors(admin_client):
    model = stored_model("lab")
    following = Detector.objects.create(name="learned", kind="classifier", params={"name": "lab"})
    pinned = Detector.objects.create(
        name="pinned", kind="classifier", params={"name": "lab", "version": 1}
    )
    promote = reverse("admin:detection_classifiermodel_promote", args=[model.pk])
    assert admin_client.get(promote).status_code == 405
    confirm = admin_client.post(promote)
    assert confirm.status_code == 200
    assert (
        "learned (now v1)" in confirm.content.decode() and "pinned" not in confirm.content.decode()
    )
    model.refresh_from_db()
    assert model.promoted_at is None  # nothing changes until confirmed
    done = admin_client.post(promote, {"confirm": "yes"}, follow=True)
    assert "Promoted lab v1; 1 detector(s) following it" in done.content.decode()
    model.refresh_from_db()
    assert model.promoted_at is not None
    assert Detector.objects.get(pk=following.pk).version == following.version + 1
    assert Detector.objects.get(pk=pinned.pk).version == pinned.version
    # Promoting the promoted version again changes nothing.
    admin_client.post(promote, {"confirm": "yes"})
    assert Detector.objects.get(pk=following.pk).version == following.version + 1


# -- links ----------------------------------------------------------------------------------------


def test_the_models_and_detectors_lists_link_to_training(admin_client):
    model = stored_model("lab")
    models = admin_client.get(reverse("admin:detection_classifiermodel_changelist")).content
    assert TRAIN in models.decode()
    assert reverse("admin:detection_classifiermodel_compare", args=[model.pk]) in models.decode()
    detectors = admin_client.get(reverse("admin:detection_detector_changelist")).content
    assert TRAIN in detectors.decode()


# -- in Chromium -----------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_admin_trains_follows_and_promotes_in_chromium(chromium, live_server):
    from playwright.sync_api import expect

    labeled_traces(make_user("lena", LABELER))
    first, second = export(split=HALVES), export(split=HALVES)
    page = Watched(chromium, live_server)
    page.sign_in(make_user("ada", ADMIN).username, TRAIN)
    counts = page.page.locator("#split-counts")
    expect(counts).to_contain_text(f"Training split of {second}:")
    # Choosing the other version swaps in its counts (htmx, within the CSP).
    page.page.select_option("select[name=version]", str(first.pk))
    expect(counts).to_contain_text(f"Training split of {first}:")
    page.page.fill("input[name=name]", "console")
    page.page.click("input[type=submit][value=Train]")
    expect(page.page.locator("#training-status")).to_contain_text("Trained: console v1.")
    page.page.click("text=Held-out figures and promotion of console v1")
    expect(page.page.locator(".training-figures")).to_contain_text("AUROC")
    page.page.click("input[type=submit][value^='Promote console v1']")
    expect(page.page.locator("#content-main")).to_contain_text("Promote console v1 to be")
    assert ClassifierModel.objects.get(name="console").promoted_at is None
    page.page.click("input[type=submit][value='Yes, promote console v1']")
    expect(page.page.locator(".messagelist")).to_contain_text("Promoted console v1")
    expect(page.page.locator("#content-main")).to_contain_text("console v1 is the promoted version")
    assert ClassifierModel.objects.get(name="console").promoted_at is not None
    assert "dataset tampering v1, training split" in ClassifierModel.objects.get().trained_on
    assert page.errors == [] and page.dialogs == [] and page.foreign_requests() == []
