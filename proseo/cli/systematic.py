"""``proseo template`` and ``proseo trigger``: systematic production (local mode).

Templates and triggers are written as YAML/JSON files (``--file``) or, for triggers, with
flags. ``proseo trigger run`` fires the triggers and moves the orders they made where no
``proseo serve`` does it (``--watch`` keeps doing it).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from proseo.cli import order_options as o
from proseo.cli.context import cli_context, local_actor
from proseo.cli.output import json_object, make_console, say

template_app = typer.Typer(
    help="Order templates: the settings of systematic orders.", no_args_is_help=True
)
trigger_app = typer.Typer(
    help="Production triggers: orders made by themselves.", no_args_is_help=True
)
console = make_console()


MISSION = typer.Option(..., "--mission", "-m", help="Mission code.")
JSON_OUTPUT = typer.Option(False, "--json", help="Print JSON.")


def _print(data: Any, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(data, default=str))
        return
    if isinstance(data, list):
        for item in data:
            _print(item, False)
        return
    for key, value in data.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            say(f"{key}:")
            for item in value:
                say("  " + ", ".join(f"{k}={v}" for k, v in item.items() if v is not None))
        else:
            shown = json.dumps(value, default=str) if isinstance(value, dict | list) else value
            say(f"{key}: {shown}")
    say()


# -- templates -------------------------------------------------------------------------------


def _default(key: str, value: Any) -> bool:
    """Whether an option left at its default (a template stores only what was given, so that
    e.g. a trigger's orders default to production type SYSTEMATIC)."""
    from orderman.orders import OrderSettings

    if value in ([], {}, None):
        return True
    return bool(value == OrderSettings.model_fields[key].default)


@template_app.command("create")
def template_create(
    ctx: typer.Context,
    name: str | None = typer.Argument(None, help="Template name (or in --file)."),
    file: Path | None = typer.Option(
        None, "--file", help="Template as YAML or JSON (TemplateSpec)."
    ),
    update: bool = typer.Option(
        False, "--update", help="Store as the next version of an existing template."
    ),
    mission: str | None = typer.Option(None, "--mission", "-m"),
    description: str | None = typer.Option(None, "--description"),
    product_class: list[str] = o.CLASSES,
    slicing: str = o.SLICING,
    slice_duration: float | None = o.SLICE_DURATION,
    overlap: float = o.OVERLAP,
    mode: str | None = o.MODE,
    file_class: str | None = o.FILE_CLASS,
    priority: int = o.PRIORITY,
    stop_list: list[str] = o.STOP_LIST,
    processor: list[str] = o.PROCESSORS,
    facility: str | None = o.FACILITY,
    parameter: list[str] = o.PARAMETERS,
    output_parameter: list[str] = o.OUTPUT_PARAMETERS,
    production_type: str = o.PRODUCTION_TYPE,
    input_timeout: int | None = o.INPUT_TIMEOUT,
    max_retries: int = o.MAX_RETRIES,
    auto_release: bool = o.AUTO_RELEASE,
    auto_close: bool = o.AUTO_CLOSE,
    notify: str | None = o.NOTIFY,
) -> None:
    """Create an order template from a file or options (or, with --update, its next
    version); it is validated as an order would be."""
    from orderman.templates import (
        create_template,
        load_template_spec,
        parse_template_spec,
        template_view,
    )

    context = cli_context(ctx)
    if file is not None:
        spec = load_template_spec(file)
    else:
        settings = o.settings_from_options(ctx.params)
        given = {key: value for key, value in settings.items() if not _default(key, value)}
        spec = parse_template_spec(
            {"mission": mission, "name": name, "description": description, **given},
            source="options",
        )
    with context.database.transaction() as session:
        template = create_template(
            session, spec, local_actor(), context.settings.limits, new_version=update
        )
        view = template_view(template)
    say(f"order template {view['name']} version {view['version']} of {view['mission']} stored")


@template_app.command("list")
def template_list(
    ctx: typer.Context,
    mission: str | None = typer.Option(None, "--mission", "-m"),
    as_json: bool = JSON_OUTPUT,
) -> None:
    """List order templates (newest versions)."""
    from orderman.templates import list_templates, template_view

    with cli_context(ctx).database.transaction() as session:
        views = [template_view(t) for t in list_templates(session, mission)]
    if as_json:
        _print(views, True)
        return
    if not views:
        say("no order templates")
    for v in views:
        classes = ", ".join(v["settings"].get("requested_product_classes", []))
        say(f"{v['mission']} {v['name']} v{v['version']}: {classes}")


@template_app.command("show")
def template_show(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    mission: str = MISSION,
    version: int | None = typer.Option(None, "--version", min=1),
    as_json: bool = JSON_OUTPUT,
) -> None:
    """Show an order template (newest version unless --version)."""
    from orderman.templates import get_template, template_view

    with cli_context(ctx).database.transaction() as session:
        view = template_view(get_template(session, mission, name, version))
    _print(view, as_json)


@template_app.command("delete")
def template_delete(
    ctx: typer.Context, name: str = typer.Argument(...), mission: str = MISSION
) -> None:
    """Delete every version of an order template (refused while a trigger uses it)."""
    from orderman.templates import delete_template

    with cli_context(ctx).database.transaction() as session:
        count = delete_template(session, mission, name)
    say(f"order template {name} deleted ({count} versions)")


# -- triggers --------------------------------------------------------------------------------


@trigger_app.command("create")
def trigger_create(
    ctx: typer.Context,
    name: str | None = typer.Argument(None, help="Trigger name (or in --file)."),
    file: Path | None = typer.Option(None, "--file", help="Trigger as YAML or JSON (TriggerSpec)."),
    mission: str | None = typer.Option(None, "--mission", "-m"),
    kind: str | None = typer.Option(
        None, "--kind", help="DATA_DRIVEN, TIME_INTERVAL, CALENDAR, ORBIT or DATATAKE."
    ),
    template: str | None = typer.Option(None, "--template", help="Order template name."),
    product_type: str | None = typer.Option(None, "--product-type", help="DATA_DRIVEN, DATATAKE."),
    interval: int | None = typer.Option(None, "--interval", help="TIME_INTERVAL: seconds."),
    cron: str | None = typer.Option(None, "--cron", help="CALENDAR: five-field cron, UTC."),
    period: str | None = typer.Option(
        None, "--period", help="CALENDAR: day, hour, week, month or previous_occurrence."
    ),
    spacecraft: str | None = typer.Option(None, "--spacecraft", help="ORBIT: spacecraft code."),
    group_parameter: str | None = typer.Option(None, "--group-parameter", help="DATATAKE."),
    expected_count: int | None = typer.Option(None, "--expected-count", help="DATATAKE."),
    quiet: int | None = typer.Option(None, "--quiet-period", help="DATATAKE: seconds."),
    settings: str | None = typer.Option(None, "--settings", help="Further settings as JSON."),
    delay: int = typer.Option(0, "--delay", help="Seconds after its occurrence it fires."),
    execution_delay: int = typer.Option(
        0, "--execution-delay", help="Seconds after creation its orders may start."
    ),
    priority: int | None = typer.Option(
        None, "--priority", help="Order priority (else the template's)."
    ),
    catch_up: str = typer.Option("ALL", "--catch-up", help="ALL, LATEST or NONE."),
    disabled: bool = typer.Option(False, "--disabled", help="Create it disabled."),
) -> None:
    """Create a production trigger from a file or flags."""
    from orderman.triggers import TriggerSpec, create_trigger, parse_trigger_spec

    if file is not None:
        from proseo.validation import load_input

        spec = load_input(TriggerSpec, file, "trigger file")
    else:
        given = {
            "product_type": product_type,
            "interval_s": interval,
            "cron": cron,
            "period": period,
            "spacecraft": spacecraft,
            "group_parameter": group_parameter,
            "expected_count": expected_count,
            "quiet_s": quiet,
        }
        spec = parse_trigger_spec(
            {
                "mission": mission,
                "name": name,
                "kind": (kind or "").upper(),
                "template": template,
                "enabled": not disabled,
                "priority": priority,
                "delay_s": delay,
                "execution_delay_s": execution_delay,
                "catch_up": catch_up.upper(),
                "settings": {
                    **{k: v for k, v in given.items() if v is not None},
                    **(json_object("--settings", settings) or {}),
                },
            },
            source="trigger",
        )
    with cli_context(ctx).database.transaction() as session:
        trigger = create_trigger(session, spec, local_actor())
        summary = f"trigger {trigger.name} ({trigger.kind.value}) of {spec.mission} created"
    say(summary + ("" if spec.enabled else ", disabled"))


@trigger_app.command("list")
def trigger_list(
    ctx: typer.Context,
    mission: str | None = typer.Option(None, "--mission", "-m"),
    as_json: bool = JSON_OUTPUT,
) -> None:
    """List production triggers."""
    from orderman.triggers import list_triggers, trigger_view

    with cli_context(ctx).database.transaction() as session:
        views = [trigger_view(session, t) for t in list_triggers(session, mission)]
    if as_json:
        _print(views, True)
        return
    if not views:
        say("no triggers")
    for v in views:
        state = "enabled" if v["enabled"] else "disabled"
        say(
            f"{v['mission']} {v['name']}: {v['kind']} -> template {v['template']}, {state}, "
            f"{v['occurrences']} occurrences"
        )


@trigger_app.command("show")
def trigger_show(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    mission: str = MISSION,
    recent: int = typer.Option(10, "--recent", min=0, max=1000, help="Newest occurrences to show."),
    as_json: bool = JSON_OUTPUT,
) -> None:
    """Show a trigger with its newest occurrences and the orders they made."""
    from orderman.triggers import get_trigger, trigger_view

    with cli_context(ctx).database.transaction() as session:
        view = trigger_view(session, get_trigger(session, mission, name), occurrences=recent)
    _print(view, as_json)


def _set_enabled(ctx: typer.Context, mission: str, name: str, enabled: bool) -> None:
    from orderman.triggers import get_trigger, set_enabled

    with cli_context(ctx).database.transaction() as session:
        set_enabled(session, get_trigger(session, mission, name), enabled)
    say(f"trigger {name} {'enabled' if enabled else 'disabled'}")


@trigger_app.command("enable")
def trigger_enable(
    ctx: typer.Context, name: str = typer.Argument(...), mission: str = MISSION
) -> None:
    """Enable a trigger (data-driven ones react to products arriving from now on)."""
    _set_enabled(ctx, mission, name, True)


@trigger_app.command("disable")
def trigger_disable(
    ctx: typer.Context, name: str = typer.Argument(...), mission: str = MISSION
) -> None:
    """Disable a trigger."""
    _set_enabled(ctx, mission, name, False)


@trigger_app.command("delete")
def trigger_delete(
    ctx: typer.Context, name: str = typer.Argument(...), mission: str = MISSION
) -> None:
    """Delete a trigger and its occurrence records (the orders it made stay)."""
    from orderman.triggers import get_trigger

    with cli_context(ctx).database.transaction() as session:
        session.delete(get_trigger(session, mission, name))
    say(f"trigger {name} deleted")


@trigger_app.command("preview")
def trigger_preview(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    mission: str = MISSION,
    upcoming: int = typer.Option(0, "--next", min=0, max=1000, help="Also its next N occurrences."),
    at: datetime | None = typer.Option(None, "--at", help="Evaluate as at this time (UTC)."),
    as_json: bool = JSON_OUTPUT,
) -> None:
    """Show the orders the trigger would make now (and at its next N occurrences); writes
    nothing."""
    from orderman.triggers import get_trigger, preview

    now = datetime.now(UTC) if at is None else (at if at.tzinfo else at.replace(tzinfo=UTC))
    with cli_context(ctx).database.transaction() as session:
        entries = preview(session, get_trigger(session, mission, name), now, upcoming)
    if as_json:
        _print(entries, True)
        return
    if not entries:
        say("nothing pending" + ("" if upcoming else " (--next N shows what comes)"))
    for e in entries:
        made = e.get("order") or f"refused: {e.get('error')}"
        say(f"{e['when']:8} {e['key']}  {e['window']}  -> {made}")


@trigger_app.command("run")
def trigger_run(
    ctx: typer.Context,
    mission: str | None = typer.Option(None, "--mission", "-m"),
    watch: bool = typer.Option(False, "--watch", help="Keep running (Ctrl-C stops)."),
    interval: float = typer.Option(
        10.0, "--interval", min=0.1, help="Seconds between rounds (--watch)."
    ),
) -> None:
    """Fire the pending trigger occurrences and move the orders they made (approve, plan,
    release, close, notify), once or (--watch) until stopped: for installations where no
    'proseo serve' runs."""
    from orderman.automation import advance_orders
    from orderman.triggers import run_triggers
    from proseo.db.wakeup import ORDERS, PRODUCTS, Waiter

    context = cli_context(ctx)
    database = context.database
    waiter = Waiter(database.engine, (PRODUCTS, ORDERS)) if watch else None
    try:
        while True:
            report = run_triggers(database, mission=mission, limits=context.settings.limits)
            for outcome in report.outcomes:
                if outcome.status == "created":
                    say(f"trigger {outcome.trigger}: order {outcome.identifier} ({outcome.key})")
                elif outcome.status == "failed":
                    say(f"trigger {outcome.trigger}: {outcome.key} refused: {outcome.message}")
            for error in report.errors:
                say(f"error: {error}")
            moved = advance_orders(database)
            if moved.changed:
                say(f"orders: {moved.line()}")
            for error in moved.errors:
                say(f"error: {error}")
            if waiter is None:
                return
            if not (report.created or moved.changed):
                waiter.wait(interval)
            else:
                time.sleep(0)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
