"""The ``ejiaren`` command: serve, worker, db upgrade, demo, import-grids, create-admin, openapi."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from app.core.settings import SettingsError, get_settings

cli = typer.Typer(help="e家人 基层治理后端", no_args_is_help=True, add_completion=False)
db_cli = typer.Typer(help="数据库迁移", no_args_is_help=True)
demo_cli = typer.Typer(help="演示数据", invoke_without_command=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(demo_cli, name="demo")
console = Console()

OPENAPI_PATH = Path("openapi/openapi.json")


def main() -> None:
    try:
        cli()
    except SettingsError as exc:
        # A refusal to start (e.g. prod with default secrets): the reason, not a trace.
        console.print(f"[red]设置有误：{exc}[/red]")
        raise SystemExit(2) from None


@db_cli.command("upgrade")
def db_upgrade(revision: str = "heads") -> None:
    """把数据库迁移到最新版本（或指定版本）。"""
    from app.core.migrations import upgrade

    settings = get_settings()
    upgrade(settings.database_url, revision)
    console.print(f"[green]数据库已迁移到 {revision}[/green]")


@db_cli.command("current")
def db_current() -> None:
    """显示数据库当前的迁移版本与最新版本。"""
    from app.core.db import make_engine
    from app.core.migrations import current_revisions, head_revisions

    async def _run() -> set[str]:
        engine = make_engine(get_settings())
        try:
            return await current_revisions(engine)
        finally:
            await engine.dispose()

    current = asyncio.run(_run())
    console.print(
        f"当前: {', '.join(sorted(current)) or '(空)'}  最新: {', '.join(sorted(head_revisions()))}"
    )


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="监听地址")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="监听端口")] = 8000,
    demo: Annotated[bool, typer.Option("--demo", help="先迁移数据库并写入演示数据")] = False,
    migrate: Annotated[bool, typer.Option("--migrate", help="启动前迁移数据库")] = False,
    workers: Annotated[int, typer.Option(help="uvicorn 进程数")] = 1,
) -> None:
    """启动 API 服务（单机部署时同进程运行后台任务）。"""
    import uvicorn

    get_settings()  # refuse bad settings here, before uvicorn starts
    if demo:
        _refuse_demo_in_prod()  # before migrating: a refused --demo changes nothing
    if demo or migrate:
        db_upgrade("heads")
    if demo:
        demo_seed()
    uvicorn.run(
        "app.main:app", host=host, port=port, workers=workers, proxy_headers=False, log_config=None
    )


@cli.command()
def worker(
    once: Annotated[bool, typer.Option("--once", help="只运行一轮后退出")] = False,
) -> None:
    """单独运行后台任务（多进程部署时使用）。"""
    from app.worker import run_standalone

    asyncio.run(run_standalone(once=once))


@cli.command("openapi")
def openapi_cmd(
    output: Annotated[Path, typer.Option(help="输出文件")] = OPENAPI_PATH,
    check: Annotated[bool, typer.Option("--check", help="只检查文件是否最新")] = False,
) -> None:
    """生成 openapi/openapi.json。"""
    from app.openapi_export import render_openapi

    text = render_openapi()
    if check:
        if not output.exists() or output.read_text(encoding="utf-8") != text:
            console.print(f"[red]{output} 已过期，请运行 ejiaren openapi[/red]")
            raise typer.Exit(1)
        console.print(f"[green]{output} 是最新的[/green]")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    console.print(f"[green]已写入 {output}[/green]")


async def _in_transaction(work: Any) -> Any:
    from app.core.db import Database

    db = Database(get_settings())
    try:
        async with db.session(write=True) as session:
            result = await work(session)
            await session.commit()
            return result
    finally:
        await db.dispose()


@cli.command("create-admin")
def create_admin(
    username: Annotated[str, typer.Option(help="登录名")],
    password: Annotated[str, typer.Option(help="密码（至少 8 位）", prompt=True, hide_input=True)],
    name: Annotated[str | None, typer.Option(help="姓名")] = None,
) -> None:
    """创建（或重置）系统管理员账号。"""
    from app.users.service import create_superadmin

    if len(password) < 8:
        console.print("[red]密码至少 8 位[/red]")
        raise typer.Exit(2)

    async def work(session: Any) -> Any:
        return await create_superadmin(session, username=username, password=password, name=name)

    from app.core.errors import AppError

    try:
        user = asyncio.run(_in_transaction(work))
    except AppError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"[green]系统管理员 {username}（id={user.id}）已就绪[/green]")


@cli.command("import-grids")
def import_grids_cmd(
    file: Annotated[
        Path,
        typer.Argument(
            help="GeoJSON FeatureCollection 文件", exists=True, dir_okay=False, readable=True
        ),
    ],
) -> None:
    """从 GeoJSON 文件导入（或更新）网格边界。"""
    from app.core.errors import AppError
    from app.org.grid_import import import_grids

    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        console.print(f"[red]文件不是有效的 JSON：{exc}[/red]")
        raise typer.Exit(2) from exc

    async def work(session: Any) -> Any:
        return await import_grids(session, data)

    try:
        result = asyncio.run(_in_transaction(work))
    except AppError as exc:
        console.print(f"[red]{exc.message}[/red]")
        if exc.details:
            console.print(json.dumps(exc.details, ensure_ascii=False, indent=2))
        raise typer.Exit(1) from exc
    table = Table("新建", "更新", "未变", "文件中网格数")
    table.add_row(
        str(result.created), str(result.updated), str(result.unchanged), str(result.grids)
    )
    console.print(table)


@demo_cli.callback()
def demo_default(ctx: typer.Context) -> None:
    """写入演示数据（可重复运行）。"""
    if ctx.invoked_subcommand is None:
        _refuse_demo_in_prod()
        db_upgrade("heads")
        demo_seed()


def _refuse_demo_in_prod() -> None:
    if get_settings().env == "prod":
        console.print("[red]生产环境不能写入演示数据[/red]")
        raise typer.Exit(2)


@demo_cli.command("seed")
def demo_seed() -> None:
    """写入演示街道、社区、网格、工作人员、居民、政策与便民服务（可重复运行）。"""
    from app.demo import seed

    _refuse_demo_in_prod()
    summary = asyncio.run(_in_transaction(seed))
    table = Table("演示账号", "角色", "登录方式")
    for row in summary:
        table.add_row(*row)
    console.print(table)


@demo_cli.command("generate")
def demo_generate(
    reports: Annotated[int, typer.Option("--reports", min=0, help="诉求条数（近 12 个月）")],
    grids: Annotated[
        int | None, typer.Option("--grids", min=1, help="网格数（默认每 500 条诉求一个网格）")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="随机种子：相同种子生成相同数据")] = 1,
) -> None:
    """批量生成演示数据：一个区县的街道、社区、网格、工作人员、居民和一年的诉求（用于压测与统计）。"""
    from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    from app.core.errors import AppError
    from app.demo import DEMO_PASSWORD
    from app.demo_generate import generate

    _refuse_demo_in_prod()
    settings = get_settings()
    db_upgrade("heads")
    grid_count = grids or max(1, round(reports / 500))
    labels = {
        "regions": "区划与网格",
        "users": "人员",
        "reports": "诉求与时间线",
        "indexes": "重建索引",
        "finish": "收尾",
    }
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(labels.get(stage, stage), total=max(total, 1))
            bar.update(tasks[stage], completed=done, total=max(total, 1))

        try:
            result = asyncio.run(
                generate(
                    settings.database_url,
                    grids=grid_count,
                    reports=reports,
                    seed=seed,
                    progress=progress,
                )
            )
        except AppError as exc:
            console.print(f"[red]{exc.message}[/red]")
            raise typer.Exit(1) from exc
    table = Table("项目", "数量")
    for label, value in [
        ("街道", result.streets),
        ("社区", result.communities),
        ("网格", result.grids),
        ("工作人员", result.staff),
        ("居民", result.residents),
        ("诉求", result.reports),
        ("时间线事件", result.events),
        *[(f"状态 {status}", n) for status, n in result.by_status.items()],
    ]:
        table.add_row(label, f"{value:,}")
    console.print(table)
    stages = "，".join(f"{labels.get(k, k)} {v:.1f}" for k, v in result.seconds_by_stage.items())
    console.print(f"用时 {result.seconds:.1f} 秒（{stages}）")
    console.print(f"网格员账号如 gen-worker-00001，密码均为 {DEMO_PASSWORD}")


if __name__ == "__main__":
    main()
