"""The search modal's submissions: the form (→ results, in the modal) and the results view's
"New search" (→ the form again, filled in)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient
from slack_sdk.models.views import View

from bot.labels import framework_label
from bot.slack import constants
from bot.slack.listeners.common import Deps, modal_form, report
from bot.slack.messages.modal import (
    QUERY,
    RESULTS_CALLBACK_ID,
    SearchForm,
    form_from_metadata,
    loading_view,
    parse_search,
    results_view,
    search_view,
)
from store.state.home import loaded_attack_versions, loaded_framework_versions


@dataclass(frozen=True)
class FormOptions:
    """What the search form's menus offer: what is loaded."""

    frameworks: list[tuple[str, str]]  # (value, label)
    releases: list[tuple[str, str]]
    attack_versions: list[str]  # newest first


def form_options(deps: Deps) -> FormOptions:
    engine = deps.answerer.engine  # the data the answers come from
    frameworks: dict[str, str] = {}
    releases: dict[str, str] = {}
    for fw, version in loaded_framework_versions(engine):
        frameworks.setdefault(fw, framework_label(fw))
        releases.setdefault(version, f"{framework_label(fw)} {version}")
    return FormOptions(
        list(frameworks.items()),
        sorted(releases.items(), key=lambda kv: kv[1]),
        loaded_attack_versions(engine),
    )


def form_view(options: FormOptions, previous: SearchForm | None = None) -> View:
    return search_view(
        options.frameworks, options.releases, previous=previous, attack_versions=options.attack_versions
    )


def register(app: App, deps: Deps) -> None:
    def on_search(
        ack: Callable[..., None], body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        view = body.get("view") or {}
        form = parse_search(((view.get("state") or {}).get("values")) or {})
        if not form.query:
            ack(response_action="errors", errors={QUERY: "Type a technique, control, CVE or some words."})
            return

        def work() -> View:
            answer = deps.answerer.answer(
                form.query,
                frameworks=form.frameworks,
                filters=form.filters,
                inventory=deps.yours(context.team_id, None),
            )
            deps.lookups.record(
                answer,
                source="modal",
                query=form.query,
                team_id=context.team_id,
                channel_id=None,
                user_id=context.user_id,
            )
            return results_view(form, modal_form(answer.payload))

        try:
            result = deps.within_budget(work, quick=True)
        except Exception as exc:
            ack(response_action="update", view=results_view(form, report("modal", exc)))
            return
        if isinstance(result, Future):
            ack(response_action="update", view=loading_view(f"Searching for {form.query[:100]}…"))
            view_id = str(view.get("id") or "")
            result.add_done_callback(lambda f: _update_later(f, client, form, view_id))
            return
        ack(response_action="update", view=result)

    app.view(constants.SEARCH_MODAL_CALLBACK_ID)(on_search)

    def on_new_search(ack: Callable[..., None], body: dict[str, Any]) -> None:
        previous = form_from_metadata(str((body.get("view") or {}).get("private_metadata") or ""))
        ack(response_action="update", view=form_view(form_options(deps), previous))

    app.view(RESULTS_CALLBACK_ID)(on_new_search)


def _update_later(future: Future[View], client: WebClient, form: SearchForm, view_id: str) -> None:
    """The answer outlived the ack, which put up a loading view; replace it (same view ID)."""
    try:
        view = future.result()
    except Exception as exc:
        view = results_view(form, report("modal", exc))
    try:
        client.views_update(view_id=view_id, view=view)
    except Exception:
        report("modal views.update")
