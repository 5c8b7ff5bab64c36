"""Photo upload and signed media URLs (/media)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect

from app.auth.dependencies import CurrentUser, SettingsDep
from app.auth.principal import Principal
from app.core import clock, idempotency
from app.core.db import Database, SessionDep
from app.core.errors import AppError, BadRequest, Invalid, errors
from app.core.idempotency import IdempotencyKey
from app.core.ids import PLAIN_DIGITS, id_path
from app.core.ratelimit import Rate
from app.core.settings import Settings
from app.media import service as media_service
from app.media import signing
from app.media.images import MAX_UPLOAD_BYTES, TooLarge
from app.media.models import Media
from app.media.schemas import MediaRead
from app.media.storage import LocalStorage, Storage

router = APIRouter(prefix="/media", tags=["media"])

# Room for the multipart boundaries and part headers around the file itself.
_MULTIPART_SLACK = 64 * 1024
_MAX_BODY = MAX_UPLOAD_BYTES + _MULTIPART_SLACK
_CHUNK = 64 * 1024
_CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}

_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "contentMediaType": "application/octet-stream",
                            "description": (
                                "图片文件：JPG、PNG 或 WebP（按文件内容判断，与文件名无关），"
                                "不超过 10 MB、4000 万像素"
                            ),
                        }
                    },
                }
            }
        },
    }
}


def get_storage(settings: SettingsDep) -> Storage:
    return LocalStorage(settings.media_dir)


StorageDep = Annotated[Storage, Depends(get_storage)]


MediaId = Annotated[int, PLAIN_DIGITS, id_path("照片 id")]


@router.post(
    "",
    status_code=201,
    summary="上传照片",
    response_model=MediaRead,
    responses=errors(400, 401, 409, 413, 422, 429),
    openapi_extra=_UPLOAD_BODY,
)
async def upload_media(
    request: Request,
    response: Response,
    principal: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    key: IdempotencyKey = None,
) -> MediaRead | Response:
    """以 `multipart/form-data` 上传一张照片（字段名 `file`），居民与工作人员均可使用。

    - 类型按文件内容判断，只接受 JPG、PNG、WebP：其他图片格式（GIF、SVG、HEIC 等）或伪装成图片的文件
      返回 422 `media.unsupported_type`，不是图片返回 422 `media.not_an_image`，
      文件不完整或损坏返回 422 `media.corrupt`；
    - 文件不超过 10 MB（否则 413 `media.too_large`），像素不超过 4000 万
      （否则 422 `media.too_many_pixels`）；
    - 保存的是重新编码后的图片：已按拍摄方向旋转，去除 EXIF（含 GPS 位置）等全部元数据，
      长边不超过 2048 像素；另生成长边不超过 320 像素的缩略图。有透明背景的图片保存为 PNG，其余为 JPG；
    - 同一用户再次上传相同的文件，返回同一个媒体（同一 id，状态码仍为 201）；
    - 返回的 `url`、`thumbnail_url` 是带签名、约 1 小时后过期的相对地址；
    - 每人每分钟上传次数有限（`EJIAREN_RATE_LIMIT_UPLOADS`），超出返回 429 `media.rate_limited`。
    """
    # Counted before the body is read: a flood of uploads costs us no decoding.
    await request.app.state.limiter.hit(
        f"media:user:{principal.id}",
        Rate.parse(settings.rate_limit_uploads),
        code="media.rate_limited",
        message="上传太频繁，请稍后再试",
    )
    data, sha256 = await _read_upload(request)
    if key is None:
        return await _store(session, storage, settings, principal, data, sha256)
    # run_idempotent fingerprints the raw body, which was streamed, not kept:
    # the same steps here, with the hash of the file as the fingerprint.
    if not key.strip():
        raise Invalid("idempotency.bad_key", "幂等键不能为空")
    db: Database = request.app.state.db
    fp = idempotency.fingerprint(request.method, request.url.path, sha256.encode())
    got = await idempotency.claim(db, owner=f"user:{principal.id}", key=key, fp=fp)
    if isinstance(got, JSONResponse):
        response.headers["Idempotency-Replayed"] = "true"
        return await _replay(session, settings, principal, got)
    try:
        result = await _store(session, storage, settings, principal, data, sha256)
        await idempotency.complete(session, got, 201, jsonable_encoder(result))
        return result
    except AppError as exc:
        await session.rollback()
        await idempotency.release(db, got, exc)
        raise
    except BaseException:
        await session.rollback()
        await idempotency.release(db, got, None)
        raise


async def _store(
    session: AsyncSession,
    storage: Storage,
    settings: Settings,
    principal: Principal,
    data: bytes,
    sha256: str,
) -> MediaRead:
    media = await media_service.find_upload(session, owner_id=principal.id, sha256=sha256)
    if media is None:
        # End the lookup's transaction: decoding takes up to a second or two,
        # and on SQLite a write transaction would hold the database lock meanwhile.
        await session.commit()
        media = await media_service.create_upload(
            session, storage=storage, owner_id=principal.id, data=data, sha256=sha256
        )
    return media_service.media_read(media, settings)


async def _replay(
    session: AsyncSession, settings: Settings, principal: Principal, stored: JSONResponse
) -> MediaRead | Response:
    """A finished attempt with the same key: its error as stored, or its media
    with fresh URLs (the stored ones may have expired since)."""
    body = json.loads(bytes(stored.body))
    if stored.status_code == 201 and isinstance(body, dict) and "id" in body:
        media = await session.get(Media, body["id"])
        if media is not None and media.owner_id == principal.id:
            return media_service.media_read(media, settings)
    return stored


async def _read_upload(request: Request) -> tuple[bytes, str]:
    """The ``file`` part of a multipart body, read with a cap on the whole body
    while it streams in and on the file itself; returns it and its sha256."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise Invalid("media.bad_upload", "请以 multipart/form-data 上传，文件字段名为 file")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > _MAX_BODY:
        raise TooLarge()
    parser = MultiPartParser(request.headers, _capped_stream(request), max_files=1, max_fields=8)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise Invalid(
            "media.bad_upload", "上传内容格式错误，请重新选择图片", details={"reason": exc.message}
        ) from exc
    except ClientDisconnect as exc:
        raise BadRequest("media.upload_interrupted", "上传中断，请重试") from exc
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise Invalid("media.file_missing", "缺少图片文件（字段名 file）")
        return await _read_capped(upload)
    finally:
        await form.close()


async def _capped_stream(request: Request) -> AsyncGenerator[bytes, None]:
    # The multipart parser spools files of any size to disk: stop it at the cap
    # instead, whatever Content-Length claimed (or when it is absent).
    total = 0
    async with aclosing(request.stream()) as stream:
        async for chunk in stream:
            total += len(chunk)
            if total > _MAX_BODY:
                raise TooLarge()
            yield chunk


async def _read_capped(upload: UploadFile) -> tuple[bytes, str]:
    digest = hashlib.sha256()
    buf = bytearray()
    while chunk := await upload.read(_CHUNK):
        buf += chunk
        if len(buf) > MAX_UPLOAD_BYTES:
            raise TooLarge()
        digest.update(chunk)
    return bytes(buf), digest.hexdigest()


@router.get(
    "/{media_id}",
    summary="查看照片（获取新的签名地址）",
    response_model=MediaRead,
    responses=errors(401, 404),
)
async def get_media(
    media_id: MediaId, principal: CurrentUser, session: SessionDep, settings: SettingsDep
) -> MediaRead:
    """返回照片信息和新签发的 `url`、`thumbnail_url`，用于地址过期后刷新。
    上传者本人、所附诉求的提交人、经办人，以及管辖该诉求的工作人员可以查看；
    其他人（或照片不存在）返回 404 `media.not_found`。"""
    media = await media_service.get_readable_media(session, principal, media_id)
    return media_service.media_read(media, settings)


@router.get(
    "/{media_id}/file",
    summary="读取照片文件（签名地址，无需登录）",
    response_class=FileResponse,
    responses={
        200: {
            "description": "图片内容（image/jpeg 或 image/png）",
            "content": {"image/jpeg": {}, "image/png": {}},
        },
        **errors(403, 404, 422),
    },
)
async def media_file(
    media_id: MediaId,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    v: Annotated[
        signing.Variant, Query(description="full：原图；thumb：缩略图（长边不超过 320 像素）")
    ] = "full",
    exp: Annotated[int | None, Query(description="过期时间（Unix 秒），由服务端签发")] = None,
    sig: Annotated[
        str | None, Query(max_length=128, description="签名（十六进制），由服务端签发")
    ] = None,
) -> Response:
    """小程序 `<image>` 无法携带登录凭证，故以签名地址授权：地址由上传或查看照片的接口签发，
    签名无效返回 403 `media.bad_signature`，已过期返回 403 `media.url_expired`（重新获取所在对象即可得到新地址）。"""
    remaining = signing.verify(
        settings, media_id=media_id, variant=v, exp=exp, sig=sig, now=clock.now()
    )
    media = await media_service.get_media(session, media_id)
    key = media.storage_key if v == "full" else media.thumb_key
    headers = {
        # Private: the URL is a bearer credential, and shared caches must not keep it.
        "Cache-Control": f"private, max-age={remaining}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Content-Disposition": "inline",
    }
    content_type = _CONTENT_TYPES[key.rsplit(".", 1)[-1]]
    path = storage.path(key)
    if path is not None:
        if not await anyio.Path(path).is_file():
            raise media_service.media_not_found()
        return FileResponse(path, media_type=content_type, headers=headers)
    data = await anyio.to_thread.run_sync(_read_all, storage, key)
    return Response(data, media_type=content_type, headers=headers)


def _read_all(storage: Storage, key: str) -> bytes:
    with storage.open(key) as f:
        return f.read()
