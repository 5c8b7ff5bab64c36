"""Media as the API shows it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class MediaRead(BaseModel):
    id: int = Field(description="媒体 id，提交诉求时放入 media_ids")
    url: str = Field(
        description=(
            "原图（长边不超过 2048 像素，已按拍摄方向旋转、去除 EXIF/GPS 等元数据）的签名地址。"
            "为相对路径，客户端需拼接服务地址；约 1 小时后过期，过期后重新获取所在对象即可得到新地址"
        ),
        examples=["/api/v1/media/42/file?v=full&exp=1795312800&sig=3f5c…"],
    )
    thumbnail_url: str = Field(
        description="缩略图（长边不超过 320 像素）的签名地址，规则同 url",
        examples=["/api/v1/media/42/file?v=thumb&exp=1795312800&sig=9a0d…"],
    )
    width: int = Field(description="原图宽度（像素，旋转后）", examples=[1536])
    height: int = Field(description="原图高度（像素，旋转后）", examples=[2048])
    sha256: str = Field(
        description="上传文件原始字节的 SHA-256（十六进制）；同一用户上传相同文件得到同一媒体",
        examples=["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"],
    )
    expires_at: datetime = Field(description="url 与 thumbnail_url 的过期时间")
