from django.urls import path

from review.views import adjudication, dashboard, datasets, labels, triage, viewer

app_name = "review"

urlpatterns = [
    # Triage: queues, lists, search.
    path("", triage.home, name="home"),
    path("queues/new/", triage.queue_form, name="queue-new"),
    path("queues/<int:queue_id>/edit/", triage.queue_form, name="queue-edit"),
    path("queues/add/", triage.queue_add, name="queue-add"),
    path("traces/", triage.trace_list, name="traces"),
    path("flags/", triage.flag_list, name="flags"),
    # Reading and labeling a trace.
    path("queues/<int:queue_id>/next/", labels.next_item, name="queue-next"),
    path("queues/<int:queue_id>/skip/", labels.skip, name="queue-skip"),
    path("queues/<int:queue_id>/back/", labels.back, name="queue-back"),
    path("traces/<int:trace_id>/", viewer.trace_page, name="trace"),
    path("traces/<int:trace_id>/steps/", viewer.step_window, name="trace-steps"),
    path("traces/<int:trace_id>/labels/", labels.save, name="trace-label"),
    path("traces/<int:trace_id>/segments/", labels.flag_span, name="trace-flag-span"),
    # Reviewers settle disagreements.
    path("adjudication/", adjudication.queue, name="adjudication"),
    path("adjudication/<int:trace_id>/", adjudication.decide, name="adjudicate"),
    # How far labelers agree, and what their labels say.
    path("agreement/", dashboard.agreement, name="agreement"),
    # Labeled datasets out.
    path("datasets/", datasets.history, name="datasets"),
    path("datasets/new/", datasets.new, name="dataset-new"),
    path("datasets/diff/", datasets.diff, name="dataset-diff"),
    path("datasets/<int:version_id>/", datasets.detail, name="dataset"),
    path("datasets/<int:version_id>/download", datasets.download, name="dataset-download"),
]
