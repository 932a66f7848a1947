"""``spotcheck task``: joint spot-check tasks (抽查任务) and their verifiable draw."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from cli.app import App, domain_errors, pass_app, requires, summary
from cli.credit import policy_option
from cli.plan import TOML_FILE, read_definition
from credit.policy import load_policy
from inspection.announce import write_announcement
from inspection.assigning import assign_task
from inspection.notices import write_notices
from inspection.replacing import replace_inspector
from inspection.definitions import parse_task
from inspection.drawing import DrawRefused, draw_task, record_refusal, verify_task
from inspection.tasks import create_task, get_task, list_tasks, parse_seed, task_summary


def operator() -> str:
    """Who acts: the user this command was authorised for (recorded with draws, reviews, steps)."""
    app = click.get_current_context().find_object(App)
    assert app is not None and app.actor is not None, "operator() outside a command that requires a role"
    return app.actor.name


@click.group()
def task() -> None:
    """Spot-check tasks (抽查任务): define, draw targets once, verify, announce."""


@task.command("create")
@click.argument("file", type=TOML_FILE)
@policy_option
@click.option("--seed", "seed_hex", metavar="HEX", help="Use this seed (64 hex digits) instead of a secret one: for tests and re-enactments only; recorded as given.")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@domain_errors
@requires("task.create")
def create_cmd(app: App, file: Path, policy_file: Path | None, seed_hex: str | None, as_json: bool) -> None:
    """Create a task from a TOML FILE (see examples/task.toml) and commit to its secret seed.

    The seed commitment (SHA-256 of the seed) goes into the task announcement before the draw;
    the seed itself stays secret until `task draw` reveals it.

    \b
    Example:
      spotcheck task create examples/task.toml
      spotcheck task announce 2026-SPB-JLP-2-1 --out announcement/
    """
    with summary("task create", file=str(file)) as facts:
        definition = parse_task(str(file), read_definition(file))
        policy = load_policy(policy_file)
        seed = parse_seed(seed_hex) if seed_hex is not None else None
        with app.session() as session:
            data = task_summary(session, create_task(session, definition, policy, seed))
        facts.update(task=data["code"], items=len(data["items"]))
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
        return
    click.echo(f"task {data['code']}: {data['name']} ({len(data['items'])} items, {data['starts_on']} – {data['ends_on']})")
    click.echo(f"seed commitment {data['seed_commitment']}" + (" (seed given with --seed: not secret)" if data["seed_source"] == "given" else ""))
    click.echo(f"next: publish the announcement (spotcheck task announce {data['code']} --out DIR), then draw with public entropy")


@task.command("show")
@click.argument("code")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@domain_errors
@requires("task.read")
def show_cmd(app: App, code: str, as_json: bool) -> None:
    """A task: definition, items and ratios, seed commitment and, once drawn, the draw report."""
    with app.session() as session:
        data = task_summary(session, get_task(session, code))
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
        return
    click.echo(f"task {data['code']} [{data['status']}] {data['name']}")
    click.echo(f"plan {data['plan']} batch {data['batch']}, kind {data['kind']}, lead {data['lead_department']}, grading run {data['grading_run']}, items version {data['item_version']}")
    click.echo(f"window {data['starts_on']} – {data['ends_on']}, {data['inspectors_per_visit']} inspectors per visit")
    scope = "; ".join(f"{k} {','.join(v)}" for k, v in data["scope"].items() if v) or "whole jurisdiction"
    click.echo(f"scope: {scope}")
    if data["replaces"]:
        click.echo(f"replaces task {data['replaces']}: {data['replace_reason']}")
    if data["replaced_by"]:
        click.echo(f"replaced by task {data['replaced_by']}")
    for item in data["items"]:
        ratios = " ".join(f"{t} {r}" for t, r in item["ratios"].items())
        click.echo(f"  {item['department']} {item['code']} {item['name']} ({item['kind']}): {ratios}")
    click.echo(f"seed commitment {data['seed_commitment']} ({data['seed_source']})")
    if data["draw"]:
        _echo_draw(data["draw"])


def _echo_draw(d: dict[str, Any]) -> None:
    click.echo(f"drawn {d['drawn_at']} by {d['operator']} ({d['algorithm']})")
    click.echo(f"entropy {d['entropy']!r}; seed {d['seed']}; key {d['key']}")
    click.echo(f"population {d['population']} enterprises, sha256 {d['population_sha256']}")
    excluded = ", ".join(f"{s} {n}" for s, n in d["not_in_business"].items()) or "none"
    click.echo(f"in scope {d['in_scope']}; not in business: {excluded}; no item applies {d['no_item_applies']}; ungraded (default tier) {d['ungraded_default_tier']}")
    recent = ", ".join(f"{i} {n}" for i, n in d["recently_checked"].items()) or "none"
    click.echo(f"excluded: checked on the item within the recheck period: {recent}; at the yearly cap: {d['at_yearly_cap']}")
    for item, n in d["drawn_per_item"].items():
        strata = "  ".join(f"{s['tier']} {s['drawn']}/{s['size']} ({s['ratio']})" for s in d["strata"] if s["item"] == item)
        click.echo(f"  {item}: {n} drawn   {strata}")
    spread = ", ".join(f"{v} with {k} item{'s' if k != '1' else ''}" for k, v in d["matters_per_visit"].items())
    click.echo(f"{d['visits']} visits cover {d['matters']} matters ({spread}); separate draws by department would need {d['separate_visits']} visits")
    click.echo(f"result sha256 {d['result_sha256']}")


@task.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@domain_errors
@requires("task.read")
def list_cmd(app: App, as_json: bool) -> None:
    """Every task."""
    with app.session() as session:
        tasks = list_tasks(session)
    if as_json:
        click.echo(json.dumps(tasks, ensure_ascii=False))
        return
    for t in tasks:
        click.echo(f"{t['code']}\t{t['status']}\t{t['plan']}\t{t['starts_on']}–{t['ends_on']}\t{t['name']}")


@task.command("draw")
@click.argument("code")
@click.option("--entropy", required=True, help="Public string fixed at draw time (e.g. that day's lottery numbers); recorded and published.")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@domain_errors
@requires("task.draw")
def draw_cmd(app: App, code: str, entropy: str, as_json: bool) -> None:
    """Draw the task's targets once: reveals the seed, records the population hash, the
    parameters and every attempt. A second draw is refused.

    \b
    Example:
      spotcheck task draw 2026-SPB-JLP-2-1 --entropy "福彩3D 2026332: 5 8 1"
    """
    who = operator()
    with summary("task draw", task=code) as facts:
        try:
            with app.session() as session:
                draw = draw_task(session, code, entropy, who)
                data = task_summary(session, get_task(session, code))["draw"]
        except DrawRefused as exc:
            with app.session() as session:
                # What cannot be stored as text is recorded as its escaped spelling.
                record_refusal(session, code, entropy.encode("utf-8", "backslashreplace").decode(), who, str(exc))
            raise
        facts.update(visits=draw.visits, matters=draw.matters, population=draw.population_size)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
        return
    _echo_draw(data)


@task.command("assign")
@click.argument("code")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@domain_errors
@requires("task.assign")
def assign_cmd(app: App, code: str, as_json: bool) -> None:
    """Date every visit of a drawn task and staff it with inspectors drawn at random among the
    eligible (the second random of 双随机), every rule checked before anything is stored.

    \b
    Example:
      spotcheck task assign 2026-SPB-JLP-2-1
    """
    with summary("task assign", task=code) as facts:
        with app.session() as session:
            run = assign_task(session, code, operator())
        facts.update(visits=run.visits, inspectors=run.inspectors, load_min=run.load_min, load_max=run.load_max)
    report = json.loads(run.report)
    if as_json:
        click.echo(json.dumps({"task": code, "status": "assigned", "visits": run.visits, "assigned": run.visits, "inspectors": run.inspectors,
                               "load_min": run.load_min, "load_max": run.load_max, "seconds": run.seconds,
                               "reproducible": run.reproducible, "result_sha256": run.result_sha256, "report": report}, ensure_ascii=False))
        return
    click.echo(f"task {code}: assigned: {run.visits} visits to {run.inspectors} inspectors, {run.load_min}–{run.load_max} visits each ({run.seconds:.1f} s)")
    if report.get("cpsat_blocks"):
        statuses = ", ".join(f"{n} {s}" for s, n in sorted(report["cpsat_statuses"].items()))
        click.echo(f"CP-SAT: {report['cpsat_blocks']} day block(s) regrouped ({statuses}); inspector-days in more than one district: "
                   f"{report['split_days_before']} → {report['split_days_after']}")
    if not run.reproducible:
        click.echo("warning: a CP-SAT block hit its wall-clock safety limit: a re-run may differ (task verify will say so)")
    click.echo(f"validated: every rule holds; {run.solver}; result sha256 {run.result_sha256}")


@task.command("replace")
@click.argument("code")
@click.option("--inspector", "number", required=True, help="The inspector who withdraws (number, e.g. JC0003).")
@click.option("--reason", required=True, help="Why (recorded): leave, recusal, illness …")
@click.option("--from", "start", type=click.DateTime(formats=["%Y-%m-%d"]), help="Only visits on or after this date (default: all of the inspector's visits in the task).")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@domain_errors
@requires("task.replace")
def replace_cmd(app: App, code: str, number: str, reason: str, start: Any, as_json: bool) -> None:
    """递补: an inspector withdraws; each of their visits gets another eligible inspector of the
    same department by the task's lottery. Every other visit stays as it is.

    \b
    Example:
      spotcheck task replace 2026-SPB-JLP-2-1 --inspector JC0003 --reason "病假" --from 2026-12-10
    """
    with summary("task replace", task=code, inspector=number) as facts:
        with app.session() as session:
            done = replace_inspector(session, code, number, reason, operator(), start.date() if start else None)
        facts.update(visits=len(done))
    if as_json:
        click.echo(json.dumps([{"uscc": r.uscc, "day": r.day.isoformat(), "replacement": r.replacement} for r in done]))
        return
    click.echo(f"inspector {number} withdrawn from {len(done)} visit(s) of task {code}:")
    for r in done:
        click.echo(f"  {r.day} {r.uscc}: {r.replacement}")


@task.command("notices")
@click.argument("code")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder for the notices (created if missing).")
@pass_app
@domain_errors
@requires("task.notices")
def notices_cmd(app: App, code: str, out_dir: Path) -> None:
    """Write a printable 检查通知书 (HTML, Chinese) per visit of an assigned task: every item of the
    joint visit and every document to prepare, told once (一次告知)."""
    with app.session() as session:
        files = write_notices(session, get_task(session, code), out_dir)
    click.echo(f"{len(files)} notices written to {out_dir}")


@task.command("verify")
@click.argument("code")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@domain_errors
@requires("task.read")
def verify_cmd(app: App, code: str, as_json: bool) -> None:
    """Recompute the draw from its recorded inputs and the current directories, and, once assigned,
    re-solve the assignment from the facts it recorded: exit 0 when identical, 1 with the first
    difference of each kind otherwise."""
    with summary("task verify", task=code) as facts:
        with app.session() as session:
            result = verify_task(session, code)
        facts.update(identical=result.identical, findings=len(result.findings))
    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False))
    elif result.identical:
        also = ", and the assignment re-solves to the stored dates and teams" if result.assigned else ""
        click.echo(f"task {code}: identical (seed matches its commitment, population and visits reproduce{also})")
    else:
        click.echo(f"task {code}: NOT identical")
        for finding in result.findings:
            click.echo(f"  {finding['check']}: {finding['message']}")
    if not result.identical:
        raise SystemExit(1)


@task.command("announce")
@click.argument("code")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder for the announcement files (created if missing).")
@pass_app
@domain_errors
@requires("task.read")
def announce_cmd(app: App, code: str, out_dir: Path) -> None:
    """Write the task announcement (抽查任务公告) as CSV and HTML in Chinese. Before the draw it
    carries the seed commitment; after, the revealed seed, the entropy and the enterprises drawn
    (never their credit tiers)."""
    with app.session() as session:
        files = write_announcement(session, get_task(session, code), out_dir)
    for path in files:
        click.echo(str(path))
