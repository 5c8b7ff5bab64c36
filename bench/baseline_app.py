"""The baseline of the submit benchmark: the least a FastAPI endpoint that
stores a report could do — validate the same JSON body with a small Pydantic
model and run one asyncpg INSERT through a pool, in autocommit.

No authentication, no idempotency, no dispatch, no ORM: its throughput is the
ceiling that the framework, the server and the database's commit put on any
endpoint on this machine. Served by uvicorn like the app:

    BENCH_BASELINE_DSN=postgresql://postgres@127.0.0.1:5432/ejiaren_bench \\
        python -m uvicorn bench.baseline_app:app --port 8101
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

import asyncpg
from fastapi import FastAPI, Request
from pydantic import BaseModel, Field

TABLE_DDL = """
CREATE TABLE IF NOT EXISTS bench_baseline (
    id bigserial PRIMARY KEY,
    kind text NOT NULL,
    category text NOT NULL,
    description text NOT NULL,
    lat double precision,
    lng double precision,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""


class Location(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)
    coord: Literal["gcj02", "wgs84"] = "gcj02"


class Body(BaseModel):
    kind: str = Field(max_length=16)
    category: str = Field(max_length=32)
    description: str = Field("", max_length=1000)
    location: Location | None = None
    address: str | None = Field(None, max_length=200)


class Created(BaseModel):
    id: int


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # The same number of connections the app may open (db_pool_size + db_max_overflow).
    size = int(os.environ.get("BENCH_BASELINE_POOL", "20"))
    app.state.pool = await asyncpg.create_pool(
        os.environ["BENCH_BASELINE_DSN"], min_size=min(10, size), max_size=size
    )
    async with app.state.pool.acquire() as conn:
        await conn.execute(TABLE_DDL)
    yield
    await app.state.pool.close()


app = FastAPI(lifespan=lifespan)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/baseline", status_code=201, response_model=Created)
async def create(body: Body, request: Request) -> Created:
    loc = body.location
    new_id = await request.app.state.pool.fetchval(
        "INSERT INTO bench_baseline (kind, category, description, lat, lng)"
        " VALUES ($1, $2, $3, $4, $5) RETURNING id",
        body.kind,
        body.category,
        body.description,
        loc.lat if loc else None,
        loc.lng if loc else None,
    )
    return Created(id=new_id)
