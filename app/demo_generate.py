"""Bulk demo data: a whole district with a year of 诉求, for benchmarks and figures.

``generate`` adds one district (沁阳市, found or created) with streets,
communities and ``grids`` grids laid out as a lattice of small squares south
of the hand-made demo street (so the two never overlap), the staff of every
grid and community, about one resident per ten cases, and ``reports`` cases
created over the last twelve months. Each case follows the lifecycle the app
itself would have recorded — dispatch, reminders and reassignment when
nobody accepts in time, acceptance, automatic escalation past the deadline,
resolution, reopening, rating or automatic closing, cancellation, rejection —
cut off at ``now``, so older cases are finished and recent ones still open.
Every step of that lifecycle is written to the timeline (``report_event``):
events are not sampled. Not generated: photos, followers, extension requests,
departments (every case is routed to its grid).

Rows are written in bulk in one transaction: binary ``COPY`` on PostgreSQL
(asyncpg through the engine's raw connection), batched ``executemany`` on
SQLite; on both, the secondary indexes of the two big tables are built once
after the load rather than row by row. Ids are assigned here, after the largest existing ones, and the
PostgreSQL sequences are moved past them at the end.

The same seed, sizes, ``now`` and categories give the same data. A database
is filled once: a marker row refuses a second run.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from bisect import bisect
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Table, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core import clock
from app.core.db import SQLITE_IMMEDIATE, Database
from app.core.errors import Conflict
from app.core.models import AppState
from app.core.security import hash_password
from app.core.settings import Settings
from app.demo import DEMO_PASSWORD, DISTRICT
from app.org.importer import boundary_sha
from app.org.models import Region
from app.org.service import bump_grid_stamp
from app.reports import sla
from app.reports.calendar import WorkCalendar, load_calendar
from app.reports.models import Category, Report, ReportEvent
from app.users.models import Membership, User
from app.wechat.fake import openid_for

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``; stages: ``regions``, ``users``, ``reports``,
``indexes`` (rebuilding what the load suspended)."""

MARKER_KEY = "demo_generate"
# North-west corner of the lattice: rows grow southwards from just below the
# hand-made demo street (35.080N and up), so both can live in one database.
ORIGIN_LNG, ORIGIN_LAT = 112.800, 35.060
CELL_LNG, CELL_LAT = 0.004, 0.003  # about 365 m × 333 m, a grid of ~400 households
COMMUNITY_BLOCK = 3  # a community is a 3 × 3 block of grids
STREET_BLOCK = 9  # a street is a 9 × 9 block of grids (9 communities)
DAYS = 365
CHUNK = 10_000  # cases per bulk write: bounded memory, a progress step each
SWEEP_EVERY = timedelta(minutes=5)  # how late the background sweeps notice a deadline
SQLITE_LOAD_CACHE = -262_144  # KiB: 256 MB of page cache while loading
SQLITE_DEFAULT_CACHE = -2_000  # SQLite's default, 2 MB

STREET_NAMES = [
    "覃怀街道", "怀庆街道", "太行街道", "沁园街道", "柏香镇", "山王庄镇", "西万镇",
    "西向镇", "紫陵镇", "崇义镇", "王曲乡", "王召乡",
]  # fmt: skip
COMMUNITY_WORDS = [
    "春华", "秋实", "丹河", "沁水", "怀府", "覃怀", "玉溪", "建业", "永安", "和平",
    "幸福", "光明", "新村", "兴隆", "文化", "朝阳", "东关", "西关", "南关", "北关",
    "龙泉", "柳园", "桃园", "杏园", "梨园", "枣园", "果园", "花园", "清风", "明月",
]  # fmt: skip
SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾"
GIVEN = "建国秀英伟洋静磊敏强丽军芳涛琳红斌杰娟勇艳超霞平刚桂兰玉梅志明海燕文华"
# Share of cases by category code (codes not listed get the "other" share).
CATEGORY_WEIGHTS = {
    "environment": 20, "municipal": 14, "fume_noise": 8, "neighbour": 7, "safety": 5,
    "parking": 10, "property": 10, "water_power": 5, "other": 4, "consultation": 10,
    "errand": 6, "sos": 1,
}  # fmt: skip
DESCRIPTIONS = {
    "environment": ["小区门口垃圾桶满溢，两天没有清运", "楼道里堆放杂物，影响通行", "绿化带里有建筑垃圾"],
    "municipal": ["路灯不亮已经一周", "人行道地砖松动，老人容易绊倒", "雨水井盖破损"],
    "fume_noise": ["楼下饭店油烟直排，窗户都不敢开", "夜间施工噪音扰民", "广场舞音响声音太大"],
    "neighbour": ["楼上漏水到我家，协商不成", "邻居占用公共楼道", "宠物狗夜间吠叫"],
    "safety": ["电动车在楼道充电，有火灾隐患", "小区围墙有裂缝", "消防通道被车辆堵塞"],
    "parking": ["车辆乱停堵住小区出口", "共享单车堆满人行道", "路口缺少减速带"],
    "property": ["物业不维修电梯", "小区门禁损坏多日", "物业费收支不公开"],
    "water_power": ["家里停水一天了", "小区频繁停电", "自来水发黄"],
    "other": ["希望增设休闲座椅", "建议小区增加快递柜", "公交站牌信息过时"],
    "consultation": ["城乡居民医保怎么报销", "老年人优待证如何办理", "孩子入学需要哪些材料"],
    "errand": ["帮家中老人办理养老认证", "代缴城乡居民社保", "代办残疾人证年审"],
    "sos": ["", "老人在家摔倒，需要帮助", ""],
}  # fmt: skip
RESOLVE_NOTES = ["已现场处理完毕", "已协调相关部门解决", "已联系责任单位整改到位", "已答复并处理"]
RATING_COMMENTS = [None, None, "处理很及时", "谢谢网格员", "还可以", None]
# Median hours from acceptance to resolution, by complexity.
RESOLVE_HOURS = {"simple": 5.0, "general": 26.0, "complex": 80.0, "difficult": 200.0}
# Shanghai hour of day → relative share of submissions.
HOUR_WEIGHTS = [1, 0.5, 0.3, 0.3, 0.3, 0.5, 1.5, 4, 7, 9, 9, 8, 6, 6, 7, 8, 8, 7, 6, 6, 5, 4, 3, 2]

# Fates decided when a case is filed.
P_CANCEL = 0.015
P_REJECT = 0.02
P_RETURN = 0.01
P_STUCK = 0.006  # never resolved: stays open past every deadline
P_PROGRESS_NOTE = 0.3
P_REOPEN = 0.03
P_RATED = 0.7
P_HELPFUL = 0.6

REGION_COLUMNS = (
    "id", "parent_id", "level", "name", "code", "path", "households", "boundary",
    "boundary_sha", "created_at", "updated_at",
)  # fmt: skip
USER_COLUMNS = (
    "id", "kind", "openid", "username", "password_hash", "name", "nickname", "phone",
    "home_grid_id", "on_duty", "disabled", "token_version", "created_at", "updated_at",
)  # fmt: skip
MEMBERSHIP_COLUMNS = ("id", "user_id", "role", "region_id", "created_at")
_REPORT_FIELDS = (
    "id", "kind", "category_id", "reporter_id", "description", "moderation", "lat", "lng",
    "coord_in", "address", "grid_id", "region_path", "assignee_id", "owner_level",
    "owner_region_id", "last_assignee_id", "resolver_id", "status", "complexity",
    "created_at", "updated_at", "dispatched_at", "accepted_at", "first_accepted_at",
    "resolved_at", "closed_at", "response_due_at", "resolve_due_at", "extension_hours",
    "reminded_at", "overdue_at", "resolve_count", "reopen_count", "rating_score",
    "rating_comment", "rated_at", "helpful", "duplicate_of_id", "source", "version",
    "first_response_due_at",
)  # fmt: skip
# The fields a generated case fills, as far as the model has them (a column
# added later is written as soon as both know it; others keep their default).
REPORT_COLUMNS = tuple(c.name for c in Report.__table__.columns if c.name in _REPORT_FIELDS)
EVENT_COLUMNS = (
    "id", "report_id", "type", "actor_id", "actor_role", "from_status", "to_status", "note",
    "data", "created_at",
)  # fmt: skip
_report_tuple = itemgetter(*REPORT_COLUMNS)


@dataclass
class Generated:
    """What was written, and the people the benchmarks ask for."""

    district_id: int
    streets: int
    communities: int
    grids: int
    staff: int
    residents: int
    reports: int
    events: int
    by_status: dict[str, int]
    busiest_worker_id: int
    busiest_worker_reports: int
    busiest_reporter_id: int
    busiest_reporter_reports: int
    seconds: float
    seconds_by_stage: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Grid:
    id: int
    name: str
    path: str
    community_id: int
    community_name: str
    lng: float  # south-west corner
    lat: float
    worker: int = 0
    leader: int = 0
    admin: int = 0
    residents: list[int] = field(default_factory=list)
    dispatch_json: str = ""
    last_report: int | None = None


@dataclass(frozen=True)
class _Category:
    id: int
    code: str
    name: str
    kind: str
    complexity: str
    response: timedelta
    calendar: str
    policy: Category


class _Writer:
    """Bulk rows into one table: COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self, conn: AsyncConnection, driver: Any) -> None:
        self.conn = conn
        self.driver = driver  # the asyncpg connection on PostgreSQL, else None
        # Per table and columns: the INSERT and (position, converter) of the
        # columns whose values need converting.
        self._sqlite: dict[tuple[str, tuple[str, ...]], tuple[str, list[tuple[int, Any]]]] = {}

    async def write(
        self, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
    ) -> None:
        if not rows:
            return
        if self.driver is not None:
            await self.driver.copy_records_to_table(table.name, records=rows, columns=columns)
            return
        sql, processors = self._sqlite_statement(table, tuple(columns))
        converted = []
        for row in rows:
            values = list(row)
            for i, process in processors:
                if values[i] is not None:
                    values[i] = process(values[i])
            converted.append(tuple(values))
        await self.conn.exec_driver_sql(sql, converted)  # type: ignore[arg-type]

    def _sqlite_statement(
        self, table: Table, columns: tuple[str, ...]
    ) -> tuple[str, list[tuple[int, Any]]]:
        key = (table.name, columns)
        if key not in self._sqlite:
            dialect = self.conn.dialect
            processors = []
            for i, name in enumerate(columns):
                column_type = table.c[name].type
                # JSON values arrive already serialised (shared templates); only
                # datetimes and booleans need the column type's own conversion.
                if isinstance(column_type, JSON):
                    continue
                process = column_type.dialect_impl(dialect).bind_processor(dialect)
                if process is not None:
                    processors.append((i, process))
            marks = ", ".join("?" for _ in columns)
            sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"
            self._sqlite[key] = (sql, processors)
        return self._sqlite[key]


async def generate(
    db: str | Database,
    *,
    grids: int,
    reports: int,
    seed: int,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> Generated:
    """Fill a migrated database with a district of ``grids`` grids and ``reports``
    cases over the last twelve months (see the module docstring)."""
    if grids < 1 or reports < 0:
        raise ValueError("grids must be at least 1 and reports not negative")
    own = isinstance(db, str)
    database = Database(Settings(database_url=db)) if isinstance(db, str) else db
    try:
        return await _generate(database, grids, reports, seed, progress, now or clock.now())
    finally:
        if own:
            await database.dispose()


async def _generate(
    db: Database,
    n_grids: int,
    n_reports: int,
    seed: int,
    progress: Progress | None,
    now: datetime,
) -> Generated:
    started = time.perf_counter()
    stages: dict[str, float] = {}
    report_progress = progress or (lambda stage, done, total: None)
    rng = random.Random(seed)
    async with db.engine.connect() as conn:
        if db.is_sqlite:
            conn = await conn.execution_options(**{SQLITE_IMMEDIATE: True})
        await conn.begin()
        session = AsyncSession(bind=conn, expire_on_commit=False, autoflush=False)
        if await session.get(AppState, MARKER_KEY) is not None:
            raise Conflict("demo.already_generated", "该数据库已生成过演示数据，请使用新的数据库")
        categories = await _categories(session)
        calendar = await load_calendar(session)
        driver = None
        if not db.is_sqlite:
            raw = await conn.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None and driver.is_in_transaction()
        writer = _Writer(conn, driver)
        ids = _Ids(await _max_ids(conn))

        t0 = time.perf_counter()
        district_id, lattice, counts = await _regions(session, writer, ids, rng, n_grids, now)
        report_progress("regions", n_grids, n_grids)
        stages["regions"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        staff, residents = await _people(writer, ids, rng, lattice, n_reports, seed, now)
        report_progress("users", staff + residents, staff + residents)
        stages["users"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        if driver is not None:
            restore = await _suspend_indexes(conn, ("report", "report_event"))
        else:
            restore = await _suspend_sqlite_indexes(conn, ("report", "report_event"))
        cases = _Cases(rng, now, lattice, categories, calendar, ids)
        report_progress("reports", 0, n_reports)
        sizes = [min(CHUNK, n_reports - start) for start in range(0, n_reports, CHUNK)]
        done = 0
        # The next chunk is made in a thread while the database takes the
        # previous one, so the two processes work at the same time.
        making = asyncio.create_task(asyncio.to_thread(cases.make, sizes[0])) if sizes else None
        for k, size in enumerate(sizes):
            assert making is not None
            rows, events = await making
            if k + 1 < len(sizes):
                making = asyncio.create_task(asyncio.to_thread(cases.make, sizes[k + 1]))
            await writer.write(Report.__table__, REPORT_COLUMNS, rows)  # type: ignore[arg-type]
            await writer.write(ReportEvent.__table__, EVENT_COLUMNS, events)  # type: ignore[arg-type]
            done += size
            report_progress("reports", done, n_reports)
        stages["reports"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        for k, statement in enumerate(restore):
            report_progress("indexes", k, len(restore))
            await conn.exec_driver_sql(statement)
        if restore:
            report_progress("indexes", len(restore), len(restore))
        stages["indexes"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        if not db.is_sqlite:
            for table in ("region", "user_account", "membership", "report", "report_event"):
                await conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                        f" (SELECT coalesce(max(id), 1) FROM {table}))"
                    )
                )
        await bump_grid_stamp(session)
        # The busiest grid worker (a community admin collecting escalations may hold more).
        workers = {g.worker for g in lattice}
        worker, worker_count = max(
            ((uid, n) for uid, n in cases.assignees.items() if uid in workers),
            key=lambda pair: (pair[1], -pair[0]),
            default=(0, 0),
        )
        reporter, reporter_count = cases.reporters.most_common(1)[0] if cases.reporters else (0, 0)
        result = Generated(
            district_id=district_id,
            streets=counts["street"],
            communities=counts["community"],
            grids=n_grids,
            staff=staff,
            residents=residents,
            reports=n_reports,
            events=cases.event_count,
            by_status=dict(sorted(cases.statuses.items())),
            busiest_worker_id=worker,
            busiest_worker_reports=worker_count,
            busiest_reporter_id=reporter,
            busiest_reporter_reports=reporter_count,
            seconds=0.0,
        )
        session.add(
            AppState(
                key=MARKER_KEY,
                value_int=n_reports,
                value_text=json.dumps(
                    {**_without_timings(result.as_dict()), "seed": seed}, ensure_ascii=False
                ),
                updated_at=now,
            )
        )
        await session.flush()
        await conn.commit()
        await session.close()
        if db.is_sqlite:
            await conn.exec_driver_sql(f"PRAGMA cache_size = {SQLITE_DEFAULT_CACHE}")
        if not db.is_sqlite:
            # Fresh statistics, so the first queries are planned for a million rows,
            # not for the empty tables autovacuum last saw.
            await conn.exec_driver_sql(
                "ANALYZE region, user_account, membership, report, report_event"
            )
            await conn.commit()
        stages["finish"] = time.perf_counter() - t0
    result.seconds = round(time.perf_counter() - started, 2)
    result.seconds_by_stage = {k: round(v, 2) for k, v in stages.items()}
    return result


def _without_timings(summary: dict[str, Any]) -> dict[str, Any]:
    # The marker is written before the load finishes, so it cannot know how long it took.
    return {k: v for k, v in summary.items() if k not in ("seconds", "seconds_by_stage")}


async def generated_marker(db: Database) -> dict[str, Any] | None:
    """What an earlier ``generate`` wrote into this database (``None``: nothing)."""
    async with db.session(write=False) as session:
        marker = await session.get(AppState, MARKER_KEY)
    return json.loads(marker.value_text) if marker and marker.value_text else None


# ---------------------------------------------------------------- ids and setup


async def _suspend_indexes(conn: AsyncConnection, tables: Sequence[str]) -> list[str]:
    """Drop the secondary indexes and foreign keys of ``tables`` for the load;
    returns the statements that put them back, read from the catalog so they
    come back exactly as the migrations made them.

    Maintaining eight secondary indexes and checking eleven foreign keys row
    by row made a COPY of 100,000 cases and their events take over a minute; building each index once and
    validating each key in one pass afterwards takes seconds (PostgreSQL's
    "Populating a Database" advice). It all happens in the load's transaction,
    so a failure leaves the schema as it was; meanwhile the tables are locked.
    """
    fks = (
        await conn.execute(
            text(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
                " FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text = ANY(:t)"
            ),
            {"t": list(tables)},
        )
    ).all()
    indexes = (
        await conn.execute(
            text(
                "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)"
                " FROM pg_index i WHERE i.indrelid::regclass::text = ANY(:t)"
                " AND NOT i.indisprimary AND NOT i.indisunique"
            ),
            {"t": list(tables)},
        )
    ).all()
    for table, name, _ in fks:
        await conn.exec_driver_sql(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        await conn.exec_driver_sql(f'DROP INDEX "{name}"')
    # Index builds sort in memory up to this much, instead of spilling to disk.
    await conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
    return [definition for _, definition in indexes] + [
        f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
        for table, name, definition in fks
    ]


async def _suspend_sqlite_indexes(conn: AsyncConnection, tables: Sequence[str]) -> list[str]:
    """SQLite's version of ``_suspend_indexes``: the secondary indexes go, and the
    statements that made them (from ``sqlite_master``) come back after the load.

    Inserting a million cases into eight indexes at random positions through a
    2 MB page cache kept slowing down (about a third written after 8 minutes,
    when it was stopped); CREATE INDEX sorts once instead, and the whole load
    takes under 10 minutes. The page cache is also raised for this connection
    while it loads, and set back afterwards."""
    marks = ", ".join("?" for _ in tables)
    result = await conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        f" AND tbl_name IN ({marks})",
        tuple(tables),
    )
    rows: list[Any] = list(result)
    indexes = [(str(row[0]), str(row[1])) for row in rows]
    for name, _ in indexes:
        await conn.exec_driver_sql(f'DROP INDEX "{name}"')
    await conn.exec_driver_sql(f"PRAGMA cache_size = {SQLITE_LOAD_CACHE}")
    return [sql for _, sql in indexes]


class _Ids:
    def __init__(self, start: dict[str, int]) -> None:
        self._last = dict(start)

    def next(self, table: str) -> int:
        self._last[table] += 1
        return self._last[table]


async def _max_ids(conn: AsyncConnection) -> dict[str, int]:
    out = {}
    for table in ("region", "user_account", "membership", "report", "report_event"):
        out[table] = int(
            (await conn.execute(text(f"SELECT coalesce(max(id), 0) FROM {table}"))).scalar_one()
        )
    return out


async def _categories(session: AsyncSession) -> list[tuple[_Category, float]]:
    rows = list(
        await session.scalars(
            select(Category).where(Category.active.is_(True)).order_by(Category.id)
        )
    )
    if not rows:
        raise Conflict("demo.no_categories", "没有可用的诉求类别，请先迁移数据库")
    out = []
    for c in rows:
        weight = CATEGORY_WEIGHTS.get(c.code, CATEGORY_WEIGHTS["other"])
        policy = _Category(
            c.id, c.code, c.name, c.kind, c.complexity,
            timedelta(minutes=c.response_sla_minutes), c.sla_calendar, c,
        )  # fmt: skip
        out.append((policy, float(weight)))
    return out


def _square(lng: float, lat: float) -> dict[str, Any]:
    ring = [
        [lng, lat], [lng + CELL_LNG, lat], [lng + CELL_LNG, lat + CELL_LAT],
        [lng, lat + CELL_LAT], [lng, lat],
    ]  # fmt: skip
    return {"type": "Polygon", "coordinates": [[[round(x, 6), round(y, 6)] for x, y in ring]]}


def _community_name(k: int) -> str:
    word = COMMUNITY_WORDS[k % len(COMMUNITY_WORDS)]
    round_ = k // len(COMMUNITY_WORDS)
    return f"{word}{'' if round_ == 0 else round_ + 1}社区"


def _street_name(k: int, taken: set[str]) -> str:
    name = STREET_NAMES[k % len(STREET_NAMES)]
    if k >= len(STREET_NAMES):
        name = f"{name[:-2]}{k // len(STREET_NAMES) + 1}{name[-2:]}"
    while name in taken:
        name = "新" + name
    return name


async def _regions(
    session: AsyncSession,
    writer: _Writer,
    ids: _Ids,
    rng: random.Random,
    n_grids: int,
    now: datetime,
) -> tuple[int, list[_Grid], Counter[str]]:
    """District (found or created), streets, communities and the grid lattice."""
    table: Table = Region.__table__  # type: ignore[assignment]
    district = await session.scalar(
        select(Region).where(Region.parent_id.is_(None), Region.name == DISTRICT)
    )
    rows: list[tuple[Any, ...]] = []
    if district is None:
        district_id = ids.next("region")
        district_path = f"/{district_id}/"
        rows.append(
            (
                district_id,
                None,
                "district",
                DISTRICT,
                None,
                district_path,
                None,
                None,
                None,
                now,
                now,
            )
        )
    else:
        district_id, district_path = district.id, district.path
    taken = set(await session.scalars(select(Region.name).where(Region.parent_id == district_id)))
    cols = math.ceil(math.sqrt(n_grids))
    street_cols = math.ceil(cols / STREET_BLOCK)
    community_cols = math.ceil(cols / COMMUNITY_BLOCK)
    streets: dict[int, tuple[int, str]] = {}
    communities: dict[int, tuple[int, str, str]] = {}
    grid_in_community: Counter[int] = Counter()
    lattice: list[_Grid] = []
    grid_rows: list[tuple[Any, ...]] = []
    for i in range(n_grids):
        r, c = divmod(i, cols)
        s_key = (r // STREET_BLOCK) * street_cols + c // STREET_BLOCK
        if s_key not in streets:
            sid = ids.next("region")
            name = _street_name(len(streets), taken)
            streets[s_key] = (sid, f"{district_path}{sid}/")
            rows.append(
                (
                    sid,
                    district_id,
                    "street",
                    name,
                    None,
                    streets[s_key][1],
                    None,
                    None,
                    None,
                    now,
                    now,
                )
            )
        c_key = (r // COMMUNITY_BLOCK) * community_cols + c // COMMUNITY_BLOCK
        if c_key not in communities:
            cid = ids.next("region")
            sid, spath = streets[s_key]
            name = _community_name(len(communities))
            communities[c_key] = (cid, f"{spath}{cid}/", name)
            rows.append(
                (
                    cid,
                    sid,
                    "community",
                    name,
                    None,
                    communities[c_key][1],
                    None,
                    None,
                    None,
                    now,
                    now,
                )
            )
        cid, cpath, cname = communities[c_key]
        grid_in_community[cid] += 1
        gid = ids.next("region")
        lng, lat = ORIGIN_LNG + c * CELL_LNG, ORIGIN_LAT - (r + 1) * CELL_LAT
        boundary = _square(lng, lat)
        name = f"第{grid_in_community[cid]}网格"
        grid_rows.append(
            (
                gid, cid, "grid", name, f"GEN-{i + 1:05d}", f"{cpath}{gid}/", rng.randint(300, 500),
                json.dumps(boundary), boundary_sha(boundary), now, now,
            )
        )  # fmt: skip
        lattice.append(_Grid(gid, name, f"{cpath}{gid}/", cid, cname, lng, lat))
    await writer.write(table, REGION_COLUMNS, rows)
    await writer.write(table, REGION_COLUMNS, grid_rows)
    counts: Counter[str] = Counter({"street": len(streets), "community": len(communities)})
    return district_id, lattice, counts


def _person_name(rng: random.Random) -> str:
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
    return rng.choice(SURNAMES) + given


async def _people(
    writer: _Writer,
    ids: _Ids,
    rng: random.Random,
    lattice: list[_Grid],
    n_reports: int,
    seed: int,
    now: datetime,
) -> tuple[int, int]:
    """Staff for every grid and community, and the residents who file the cases."""
    # One hash for every generated staff account: argon2 costs ~50 ms a hash,
    # and they all share the demo password anyway.
    password_hash = hash_password(DEMO_PASSWORD)
    users: list[tuple[Any, ...]] = []
    members: list[tuple[Any, ...]] = []
    joined = now - timedelta(days=DAYS + 30)

    def staff(username: str, role: str, region_id: int) -> tuple[int, str]:
        uid = ids.next("user_account")
        name = _person_name(rng)
        phone = f"138{rng.randrange(10**8):08d}"
        users.append(
            (uid, "staff", None, username, password_hash, name, name, phone, None, True, False, 0, joined, joined)
        )  # fmt: skip
        members.append((ids.next("membership"), uid, role, region_id, joined))
        return uid, name

    by_community: dict[int, list[_Grid]] = {}
    for grid in lattice:
        by_community.setdefault(grid.community_id, []).append(grid)
    for k, (community_id, grids) in enumerate(by_community.items()):
        admin, _ = staff(f"gen-admin-{k + 1:04d}", "community_admin", community_id)
        # A 网格长 for the whole community, as some communities name (DESIGN §5).
        leader, _ = staff(f"gen-leader-{k + 1:04d}", "grid_leader", community_id)
        for grid in grids:
            grid.admin, grid.leader = admin, leader
    for n, grid in enumerate(lattice):
        grid.worker, worker_name = staff(f"gen-worker-{n + 1:05d}", "grid_worker", grid.id)
        if n % 4 == 0:
            staff(f"gen-part-{n + 1:05d}", "grid_worker_part", grid.id)
        # The ``dispatched`` event's reason, as automatic dispatch records it.
        grid.dispatch_json = json.dumps(
            {
                "rule": "grid_worker",
                "reason": f"{grid.name}当班专职网格员（在办件最少）",
                "grid": {"id": grid.id, "name": grid.name},
                "assignee": {"id": grid.worker, "name": worker_name, "role": "grid_worker"},
                "notify": [],
            }
        )
    n_staff = len(users)
    await writer.write(User.__table__, USER_COLUMNS, users)  # type: ignore[arg-type]
    await writer.write(Membership.__table__, MEMBERSHIP_COLUMNS, members)  # type: ignore[arg-type]

    n_residents = max(len(lattice), n_reports // 10)
    batch: list[tuple[Any, ...]] = []
    for i in range(n_residents):
        grid = lattice[i % len(lattice)]
        uid = ids.next("user_account")
        grid.residents.append(uid)
        registered = now - timedelta(seconds=rng.uniform(DAYS * 86400, 2 * DAYS * 86400))
        phone = f"139{rng.randrange(10**8):08d}" if rng.random() < 0.6 else None
        batch.append(
            (
                uid, "resident", openid_for(f"gen-{seed}-{i + 1}"), None, None, None,
                f"居民{i + 1}", phone, grid.id, True, False, 0, registered, registered,
            )
        )  # fmt: skip
        if len(batch) >= CHUNK:
            await writer.write(User.__table__, USER_COLUMNS, batch)  # type: ignore[arg-type]
            batch = []
    await writer.write(User.__table__, USER_COLUMNS, batch)  # type: ignore[arg-type]
    return n_staff, n_residents


# ---------------------------------------------------------------- cases


class _Cases:
    """Makes cases chunk by chunk; one random stream, so a seed fixes the data."""

    def __init__(
        self,
        rng: random.Random,
        now: datetime,
        lattice: list[_Grid],
        categories: list[tuple[_Category, float]],
        calendar: WorkCalendar,
        ids: _Ids,
    ) -> None:
        self.rng, self.now, self.lattice, self.calendar, self.ids = rng, now, lattice, calendar, ids
        self.categories = [c for c, _ in categories]
        self.category_cum = _cumulative([w for _, w in categories])
        # Some grids are busier than others (a market street, an old compound).
        self.grid_cum = _cumulative([rng.lognormvariate(0, 0.5) for _ in lattice])
        # Shanghai midnight of each of the last DAYS days, in UTC; newest first.
        today = clock.to_shanghai(now).date()
        self.midnights = [
            datetime.combine(
                today - timedelta(days=d), datetime.min.time(), clock.SHANGHAI
            ).astimezone(UTC)
            for d in range(DAYS + 1)
        ]
        self.hour_cum = _cumulative(HOUR_WEIGHTS)
        self.natural_due: dict[tuple[int, str], timedelta] = {}
        self.assignees: Counter[int] = Counter()
        self.reporters: Counter[int] = Counter()
        self.statuses: Counter[str] = Counter()
        self.event_count = 0
        self.created_json = json.dumps({"located_by": "location", "source": "miniapp"})

    def make(self, size: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        rows: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        for _ in range(size):
            row = self._case(events)
            rows.append(_report_tuple(row))
        return rows, events

    def _resolve_due(self, start: datetime, category: _Category, complexity: str) -> datetime:
        if category.calendar == "natural":
            key = (category.id, complexity)
            if key not in self.natural_due:
                self.natural_due[key] = timedelta(
                    days=sla.resolve_days(category.policy, complexity)
                )
            return start + self.natural_due[key]
        return sla.resolve_due(start, category.policy, complexity, self.calendar)

    def _case(self, events: list[tuple[Any, ...]]) -> dict[str, Any]:
        rng, now = self.rng, self.now
        category = self.categories[bisect(self.category_cum, rng.random() * self.category_cum[-1])]
        grid = self.lattice[bisect(self.grid_cum, rng.random() * self.grid_cum[-1])]
        # A few residents of each grid file most of its cases.
        reporter = grid.residents[int(len(grid.residents) * rng.random() ** 2)]
        complexity = category.complexity
        if category.kind == "issue" and rng.random() < 0.15:
            complexity = "complex" if rng.random() < 0.8 else "difficult"
        # More cases lately (the service is growing); most by day, Shanghai time.
        day = int(DAYS * rng.random() ** 1.2)
        hour = bisect(self.hour_cum, rng.random() * self.hour_cum[-1])
        created = self.midnights[day] + timedelta(seconds=hour * 3600 + rng.random() * 3600)
        if created > now:
            created = now - timedelta(seconds=rng.random() * 3600)
        report_id = self.ids.next("report")
        description = rng.choice(DESCRIPTIONS.get(category.code) or DESCRIPTIONS["other"])
        r: dict[str, Any] = {
            "id": report_id, "kind": category.kind, "category_id": category.id,
            "reporter_id": reporter, "description": description, "moderation": "pass",
            "lat": grid.lat + rng.random() * CELL_LAT, "lng": grid.lng + rng.random() * CELL_LNG,
            "coord_in": "gcj02" if rng.random() < 0.85 else "wgs84",
            "address": f"{grid.community_name}{grid.name}{rng.randint(1, 30)}号楼",
            "grid_id": grid.id, "region_path": grid.path, "assignee_id": None,
            "owner_level": "grid", "owner_region_id": grid.id, "last_assignee_id": None,
            "resolver_id": None, "status": None, "complexity": complexity,
            "created_at": created, "updated_at": created, "dispatched_at": None,
            "accepted_at": None, "first_accepted_at": None, "resolved_at": None,
            "closed_at": None, "response_due_at": None, "resolve_due_at": None,
            "extension_hours": 0, "reminded_at": None, "overdue_at": None, "resolve_count": 0,
            "reopen_count": 0, "rating_score": None, "rating_comment": None, "rated_at": None,
            "helpful": None, "duplicate_of_id": None, "source": "miniapp", "version": 1,
            "first_response_due_at": None,
        }  # fmt: skip
        life = _Life(self, r, events, category, grid)
        life.run(hour)
        self.statuses[r["status"]] += 1
        self.reporters[reporter] += 1
        if r["assignee_id"] is not None:
            self.assignees[r["assignee_id"]] += 1
        grid.last_report = report_id
        return r


class _Life:
    """One case's lifecycle, step by step, stopping at ``now``."""

    def __init__(
        self,
        cases: _Cases,
        r: dict[str, Any],
        events: list[tuple[Any, ...]],
        category: _Category,
        grid: _Grid,
    ) -> None:
        self.cases, self.r, self.events, self.category, self.grid = cases, r, events, category, grid
        self.rng, self.now = cases.rng, cases.now

    # Event data of a fixed shape is formatted directly: json.dumps was a fifth
    # of the time spent making a case.
    def event(
        self,
        at: datetime,
        type_: str,
        actor: int | None,
        role: str | None,
        to: str | None = None,
        note: str | None = None,
        data: str = "{}",
    ) -> bool:
        """Record a step at ``at``; ``False`` (nothing recorded) when ``at`` is still to come."""
        if at > self.now:
            return False
        r = self.r
        before = r["status"]
        if to is not None:
            r["status"] = to
        self.events.append(
            (
                self.cases.ids.next("report_event"), r["id"], type_, actor, role,
                before if to is not None else None, to, note, data, at,
            )
        )  # fmt: skip
        self.cases.event_count += 1
        r["updated_at"] = at
        r["version"] += 1
        return True

    def minutes(self, median: float, sigma: float = 1.0) -> timedelta:
        return timedelta(minutes=self.rng.lognormvariate(math.log(median), sigma))

    def run(self, hour: int) -> None:
        r, rng, grid, category = self.r, self.rng, self.grid, self.category
        created = r["created_at"]
        self.event(
            created,
            "created",
            r["reporter_id"],
            "resident",
            "submitted",
            data=self.cases.created_json,
        )
        r["assignee_id"] = r["last_assignee_id"] = grid.worker
        r["dispatched_at"] = created
        # The first deadline stays, whatever later reassignment or escalation sets.
        r["response_due_at"] = r["first_response_due_at"] = created + category.response
        self.event(created, "dispatched", None, "system", "dispatched", data=grid.dispatch_json)

        fate = rng.random()
        if fate < P_CANCEL:
            at = created + self.minutes(15)
            if self.event(at, "cancelled", r["reporter_id"], "resident", "cancelled"):
                r["closed_at"] = at
            return
        if fate < P_CANCEL + P_REJECT:
            at = created + self.minutes(120)
            duplicate = grid.last_report if rng.random() < 0.4 else None
            note = "与已有诉求重复" if duplicate else "不属于受理范围"
            data = json.dumps({"duplicate_of": duplicate})
            if self.event(at, "rejected", grid.admin, "community_admin", "rejected", note, data):
                r["closed_at"], r["duplicate_of_id"] = at, duplicate
            return

        # Half the cases filed at night wait for the morning shift (about 07:00 Shanghai).
        delay = self.minutes(15, 0.9)
        if (hour < 7 or hour >= 22) and rng.random() < 0.5:
            delay += timedelta(hours=(31 - hour) % 24) - timedelta(minutes=30)
        accept_at, acceptor, acceptor_role = created + delay, grid.worker, "grid_worker"
        due = r["response_due_at"]
        if fate < P_CANCEL + P_REJECT + P_RETURN:
            back = created + self.minutes(25)
            if not self.event(
                back, "returned", grid.worker, "grid_worker", "submitted", "不属于本网格"
            ):
                return
            r["assignee_id"], r["owner_level"] = None, "community"
            # The community queue gets a response deadline of its own.
            r["owner_region_id"] = grid.community_id
            r["response_due_at"] = back + category.response
            again = back + self.minutes(90)
            data = json.dumps(
                {"rule": "manual", "assignee": {"id": grid.leader}, "reason": "管理员人工派单"}
            )
            if not self.event(
                again, "dispatched", grid.admin, "community_admin", "dispatched", data=data
            ):
                return
            r["assignee_id"] = r["last_assignee_id"] = grid.leader
            r["owner_level"], r["owner_region_id"] = "grid", grid.id
            r["dispatched_at"], r["response_due_at"] = again, again + category.response
            accept_at, acceptor, acceptor_role = (
                again + self.minutes(20),
                grid.leader,
                "grid_leader",
            )
        elif accept_at > due + SWEEP_EVERY * rng.random():
            # The sweeps notice a missed deadline a few minutes late: a reminder,
            # then the grid leader one response period later.
            remind = min(accept_at, due + SWEEP_EVERY * rng.random())
            data = f'{{"assignee_id": {grid.worker}}}'
            if not self.event(
                remind, "reminded", None, "system", note="超过响应时限未签收，系统催办", data=data
            ):
                return
            r["reminded_at"] = remind
            move = due + category.response + SWEEP_EVERY * rng.random()
            if accept_at > move:
                data = f'{{"from_assignee_id": {grid.worker}, "assignee_id": {grid.leader}}}'
                if not self.event(
                    move, "reassigned", None, "system", note="催办后仍未签收，改派网格长", data=data
                ):
                    return
                r["assignee_id"] = r["last_assignee_id"] = grid.leader
                r["response_due_at"], r["reminded_at"] = move + category.response, None
                accept_at = move + self.minutes(15)
                acceptor, acceptor_role = grid.leader, "grid_leader"

        if not self.accept(accept_at, acceptor, acceptor_role):
            return
        stuck = rng.random() < P_STUCK
        if category.kind == "consultation":
            self.answer(accept_at + self.minutes(240), acceptor, acceptor_role)
            return
        hours = RESOLVE_HOURS[r["complexity"]] * rng.lognormvariate(0, 0.7)
        finish = accept_at + timedelta(hours=hours)
        if rng.random() < P_PROGRESS_NOTE:
            # Halfway to the resolution or the deadline, whichever comes first, so
            # the timeline (ordered by id) stays in time order.
            halfway = accept_at + (min(finish, r["resolve_due_at"]) - accept_at) / 2
            self.event(halfway, "progress", acceptor, acceptor_role, note="正在协调处理")
        if stuck or finish > r["resolve_due_at"]:
            if not self.escalate():
                return
            acceptor, acceptor_role = grid.admin, "community_admin"
            accept_at = r["updated_at"] + self.minutes(45)
            if not self.accept(accept_at, acceptor, acceptor_role) or stuck:
                return
            finish = accept_at + self.minutes(600)
        if not self.resolve(finish, acceptor, acceptor_role):
            return
        if rng.random() < P_REOPEN:
            again = finish + self.minutes(24 * 60)
            if again - finish < timedelta(days=7):
                if not self.reopen(again):
                    return
                if not self.resolve(again + self.minutes(12 * 60), acceptor, acceptor_role):
                    return
        self.close()

    def accept(self, at: datetime, who: int, role: str) -> bool:
        r = self.r
        due = self.cases._resolve_due(at, self.category, r["complexity"])
        data = f'{{"resolve_due_at": "{due.isoformat()}"}}'
        if not self.event(at, "accepted", who, role, "in_progress", data=data):
            return False
        r["assignee_id"] = r["last_assignee_id"] = who
        r["accepted_at"] = at
        r["first_accepted_at"] = r["first_accepted_at"] or at
        r["resolve_due_at"] = due
        return True

    def escalate(self) -> bool:
        """The overdue sweep hands the case up to the community at its deadline."""
        r, grid = self.r, self.grid
        at = r["resolve_due_at"] + SWEEP_EVERY * self.rng.random()
        data = f'{{"to": "community", "region_id": {grid.community_id}, "department_id": null}}'
        if not self.event(
            at, "escalated", None, "system", "escalated", "超过办结时限，自动上报", data
        ):
            return False
        r["overdue_at"] = at
        r["assignee_id"], r["accepted_at"] = None, None
        r["owner_level"], r["owner_region_id"] = "community", grid.community_id
        r["response_due_at"] = at + self.category.response
        return True

    def resolve(self, at: datetime, who: int, role: str) -> bool:
        note = self.rng.choice(RESOLVE_NOTES)
        if not self.event(at, "resolved", who, role, "resolved", note):
            return False
        r = self.r
        r["assignee_id"] = r["last_assignee_id"] = r["resolver_id"] = who
        r["resolved_at"] = at
        r["resolve_count"] += 1
        return True

    def answer(self, at: datetime, who: int, role: str) -> None:
        r = self.r
        if not self.event(at, "answered", who, role, "resolved", "已电话答复政策要求"):
            return
        r["assignee_id"] = r["last_assignee_id"] = r["resolver_id"] = who
        r["resolved_at"] = at
        r["resolve_count"] += 1
        if self.rng.random() < P_HELPFUL:
            marked = at + self.minutes(180)
            if self.event(marked, "helpful", r["reporter_id"], "resident", "closed"):
                r["helpful"], r["closed_at"] = True, marked
            return
        self.auto_close()

    def reopen(self, at: datetime) -> bool:
        r = self.r
        who = r["resolver_id"]
        due = self.cases._resolve_due(at, self.category, r["complexity"])
        data = f'{{"assignee_id": {who}, "resolve_due_at": "{due.isoformat()}"}}'
        if not self.event(
            at, "reopened", r["reporter_id"], "resident", "in_progress", "问题仍未解决", data
        ):
            return False
        r["assignee_id"], r["closed_at"], r["overdue_at"] = who, None, None
        r["reopen_count"] += 1
        r["accepted_at"], r["resolve_due_at"] = at, due
        return True

    def close(self) -> None:
        r, rng = self.r, self.rng
        if rng.random() < P_RATED:
            at = r["resolved_at"] + self.minutes(360, 1.2)
            if at - r["resolved_at"] < timedelta(days=7):
                u = rng.random()
                score = (
                    "satisfied"
                    if u < 0.86
                    else "basically_satisfied"
                    if u < 0.96
                    else "unsatisfied"
                )
                comment = rng.choice(RATING_COMMENTS)
                data = f'{{"score": "{score}"}}'
                if self.event(at, "rated", r["reporter_id"], "resident", "closed", comment, data):
                    r["rating_score"], r["rating_comment"] = score, comment
                    r["rated_at"] = r["closed_at"] = at
                return
        self.auto_close()

    def auto_close(self) -> None:
        r = self.r
        at = r["resolved_at"] + timedelta(days=7) + SWEEP_EVERY * self.rng.random()
        if self.event(at, "closed", None, "system", "closed", "办结 7 天未评价，自动关闭"):
            r["closed_at"] = at


def _cumulative(weights: Sequence[float]) -> list[float]:
    out, total = [], 0.0
    for w in weights:
        total += w
        out.append(total)
    return out
