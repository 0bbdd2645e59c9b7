"""``bulkhead advise``, ``bulkhead advice list|show|accept|reject`` and
``bulkhead llm usage``: the LLM advisor, on demand and under the operator's hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from bulkhead.cli.common import DEFAULT_SPEC, SpecOption, environ, fail, load, select, workspace

BotArgument = Annotated[str, typer.Argument(help="A bot name from the spec.")]
STATUSES = ("refused", "pending", "applied", "rejected", "failed", "noted")


def _advisor(spec: Path, bot: str, *, calls: bool = True) -> Any:
    """The bot's Advisor over the deployment's admin connection to memory."""
    from bulkhead.advisor.setup import build_advisor
    from bulkhead.fleet.ftapi import reload_config
    from bulkhead.memory.deployment import prepare_memory

    fleet = load(spec)
    chosen = select(fleet, bot)[0]
    env = environ(spec)
    access = prepare_memory(fleet, workspace(spec), env)
    client = access.admin.client(socket_timeout=10)
    paths = workspace(spec).bot(chosen.name)
    return build_advisor(
        fleet,
        chosen.name,
        spec,
        client,
        env,
        reload=lambda: reload_config(paths),
        require_enabled=calls,
        offline=not calls,
    )


def _proposals(spec: Path, bot: str) -> Any:
    """The bot's proposals, read with the admin user; no strategy loaded, no provider key."""
    from bulkhead.advisor.advice import ProposalStore
    from bulkhead.memory.deployment import prepare_memory

    fleet = load(spec)
    chosen = select(fleet, bot)[0]
    access = prepare_memory(fleet, workspace(spec), environ(spec))
    return ProposalStore(access.admin.client(socket_timeout=10), chosen.name)


def advise(bot: BotArgument, spec: SpecOption = DEFAULT_SPEC) -> None:
    """Consult the LLM about BOT now: its proposals are reviewed, applied where the spec's
    advisor.auto_apply allows, the others wait for `bulkhead advice accept`. Every cap is
    checked before the call; when the provider fails the bot goes on as it is."""
    advisor = _advisor(spec, bot)
    typer.echo(f"consulting {advisor.settings.provider.model} about {bot} ...", err=True)
    outcome = advisor.consult(trigger="operator")
    typer.echo(
        f"consultation {outcome.id}: {outcome.outcome}"
        + (f" ({outcome.reason})" if outcome.reason else "")
    )
    for proposal in outcome.proposals:
        typer.echo(_line(proposal))
    typer.echo(
        f"{outcome.calls} call(s), {outcome.input_tokens} + {outcome.output_tokens} tokens, "
        f"{outcome.cost_eur:.6f} EUR"
    )
    if outcome.outcome == "fallback":
        raise typer.Exit(3)


def _line(proposal: dict[str, Any]) -> str:
    arguments = json.dumps(proposal.get("arguments"), sort_keys=True)[:120]
    applied = f" -> {proposal['applied']}" if proposal.get("applied") else ""
    return (
        f"  {proposal['id']}  {proposal.get('status', '?'):8}  {proposal.get('kind', '?')} "
        f"{arguments}  [{proposal.get('reason', '')[:160]}]{applied}"
    )


def advice_list(
    bot: BotArgument,
    spec: SpecOption = DEFAULT_SPEC,
    status: Annotated[
        str | None, typer.Option(help=f"Only proposals with this status: {', '.join(STATUSES)}.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="The newest N.")] = 20,
) -> None:
    """BOT's proposals, newest last: id, status, kind, arguments, reason."""
    if status is not None and status not in STATUSES:
        raise fail(f"--status {status[:20]!r}: choose one of {', '.join(STATUSES)}")
    shown = [p for p in _proposals(spec, bot).all() if status is None or p.get("status") == status]
    for proposal in shown[-limit:]:
        typer.echo(_line(proposal))
    if not shown:
        typer.echo("no proposals" + (f" with status {status}" if status else ""))


def advice_show(
    bot: BotArgument,
    proposal_id: Annotated[str, typer.Argument(help="The proposal's id (advice list).")],
    spec: SpecOption = DEFAULT_SPEC,
) -> None:
    """One proposal in full, as JSON."""
    record = _proposals(spec, bot).get(proposal_id)
    if record is None:
        raise fail(f"{bot} has no proposal {proposal_id[:64]!r} (see bulkhead advice list)")
    typer.echo(json.dumps(record, indent=2, sort_keys=True))


def advice_accept(
    bot: BotArgument,
    proposal_id: Annotated[str, typer.Argument(help="A pending proposal's id.")],
    spec: SpecOption = DEFAULT_SPEC,
) -> None:
    """Apply a pending proposal, after checking it again against the bounds and the risk
    guard as they are now."""
    advisor = _advisor(spec, bot, calls=False)
    record = advisor.decide(proposal_id, accept=True, by="operator")
    typer.echo(_line(record))
    if record["status"] != "applied":
        raise typer.Exit(1)


def advice_reject(
    bot: BotArgument,
    proposal_id: Annotated[str, typer.Argument(help="A pending proposal's id.")],
    spec: SpecOption = DEFAULT_SPEC,
) -> None:
    """Turn a pending proposal down; nothing changes."""
    record = _advisor(spec, bot, calls=False).decide(proposal_id, accept=False, by="operator")
    typer.echo(_line(record))


def llm_usage(
    bot: Annotated[str | None, typer.Argument(help="One bot (default: every bot).")] = None,
    spec: SpecOption = DEFAULT_SPEC,
    output_format: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """LLM spend, calls and tokens per bot and for the fleet, today and this month (in the
    caps' time zone), against the caps."""
    from bulkhead.advisor.spend import SpendLedger
    from bulkhead.memory.deployment import prepare_memory

    if output_format not in ("table", "json"):
        raise fail(f"--format {output_format[:20]!r}: choose table or json")
    fleet = load(spec)
    if fleet.advisor is None:
        raise fail("no advisor: section in the spec, so no LLM is ever called")
    chosen = select(fleet, bot)
    access = prepare_memory(fleet, workspace(spec), environ(spec))
    ledger = SpendLedger(access.admin.client(socket_timeout=10), fleet.advisor.caps)
    rows = {b.name: ledger.usage(b.name) for b in chosen} | {"(fleet)": ledger.usage(None)}
    if output_format == "json":
        typer.echo(json.dumps(rows, indent=2))
        return
    typer.echo(f"model {fleet.advisor.provider.model}, caps in {fleet.advisor.caps.timezone}")
    typer.echo(
        f"{'who':16} {'period':10} {'spent EUR':>12} {'cap EUR':>9} {'used':>7} "
        f"{'calls':>6} {'tokens in/out':>16}"
    )
    for who, usage in rows.items():
        for label in ("day", "month"):
            u = usage[label]
            typer.echo(
                f"{who:16} {u['period']:10} {u['spent_eur']:12.6f} {u['cap_eur']:9.2f} "
                f"{u['used']:7.1%} {u['calls']:6d} "
                f"{u['input_tokens']:>8}/{u['output_tokens']:<7}"
            )


def register(app: typer.Typer) -> None:
    app.command()(advise)
    advice = typer.Typer(
        help="The advisor's proposals: list, show, accept, reject.", no_args_is_help=True
    )
    advice.command("list")(advice_list)
    advice.command("show")(advice_show)
    advice.command("accept")(advice_accept)
    advice.command("reject")(advice_reject)
    app.add_typer(advice, name="advice")
    llm = typer.Typer(help="The LLM's cost and calls.", no_args_is_help=True)
    llm.command("usage")(llm_usage)
    app.add_typer(llm, name="llm")
