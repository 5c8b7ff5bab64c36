"""Request and response bodies of /auth and /me."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

NICKNAME_MAX = 32
ADDRESS_MAX = 200


class WechatLoginIn(BaseModel):
    code: str = Field(
        min_length=1,
        max_length=128,
        description="小程序 wx.login() 返回的临时登录凭证 code（5 分钟内有效，只能用一次）",
        examples=["0a3Xb0000abcDEF1234ghIJk5lmn6Xb0x"],
    )


class PasswordLoginIn(BaseModel):
    username: str = Field(
        min_length=1, max_length=64, description="工作人员账号", examples=["wangwei"]
    )
    password: str = Field(
        min_length=1, max_length=128, description="密码", examples=["correct horse battery"]
    )

    @field_validator("username")
    @classmethod
    def _strip_username(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("账号不能为空")
        return value


class RefreshIn(BaseModel):
    refresh_token: str = Field(
        min_length=1, max_length=4096, description="登录或上次刷新时返回的 refresh_token"
    )


class WechatBindIn(BaseModel):
    code: str = Field(
        min_length=1,
        max_length=128,
        description="工作人员在工作端小程序中调用 wx.login() 得到的 code",
        examples=["0a3Xb0000abcDEF1234ghIJk5lmn6Xb0x"],
    )


class PhoneBindIn(BaseModel):
    code: str = Field(
        min_length=1,
        max_length=128,
        description="手机号快速验证组件（open-type=getPhoneNumber）回调中的 code",
        examples=["e31968a7f94cc5ee25fafc2aef2773f0bb8c3937b22520eb8ee345274d00c144"],
    )


class RoleRead(BaseModel):
    id: int = Field(description="角色授予记录 id（撤销角色时使用）")
    role: str = Field(
        description="角色：grid_worker 专职网格员、grid_worker_part 兼职网格员、grid_leader 网格长、"
        "community_admin 社区管理员、street_admin 街道管理员、district_admin 区级管理员、"
        "department_staff 部门工作人员、superadmin 系统管理员",
        examples=["grid_worker"],
    )
    region_id: int | None = Field(description="角色所在区划 id（系统管理员为 null）")
    region_name: str | None = Field(None, description="角色所在区划名称", examples=["第一网格"])
    region_level: str | None = Field(
        None, description="区划层级：district|street|community|grid", examples=["grid"]
    )
    department_id: int | None = Field(None, description="部门工作人员所属部门 id")


class UserRead(BaseModel):
    id: int = Field(description="用户 id")
    kind: str = Field(
        description="resident 居民（微信注册）；staff 工作人员（管理员创建）", examples=["resident"]
    )
    nickname: str | None = Field(description="昵称", examples=["怀庆街道居民"])
    name: str | None = Field(None, description="姓名（工作人员由管理员录入）", examples=["王伟"])
    username: str | None = Field(None, description="工作人员账号（居民为 null）")
    roles: list[RoleRead] = Field(description="当前持有的角色，每次请求从数据库读取；居民为空数组")
    home_grid_id: int | None = Field(description="居民所在网格 id（可在“我的”中设置）")
    address: str | None = Field(None, description="住址", examples=["玉溪苑小区 3 号楼 2 单元 501"])
    phone_masked: str | None = Field(
        description="脱敏后的手机号（未绑定为 null）", examples=["138****5678"]
    )
    has_wechat: bool = Field(description="是否已绑定微信（可用 wx.login 直接登录）")
    on_duty: bool | None = Field(
        None, description="工作人员是否在岗（自动派单只选在岗的人）；居民为 null"
    )


class TokenPair(BaseModel):
    access_token: str = Field(
        description="访问令牌，请求时放在 Authorization: Bearer <access_token>"
    )
    refresh_token: str = Field(
        description="刷新令牌，access_token 过期后调用 /auth/refresh 换取新令牌"
    )
    token_type: Literal["bearer"] = Field("bearer", description="固定为 bearer")
    expires_in: int = Field(description="access_token 有效期（秒）", examples=[7200])
    refresh_expires_in: int = Field(description="refresh_token 有效期（秒）", examples=[2592000])
    user: UserRead = Field(description="当前用户")


class MePatch(BaseModel):
    """只修改提交了的字段；`home_grid_id`、`address` 传 null 表示清除。"""

    model_config = ConfigDict(
        # A misspelt field (``homeGridId``) is refused, not silently dropped.
        extra="forbid",
        json_schema_extra={"examples": [{"nickname": "老王", "home_grid_id": 12}]},
    )

    nickname: str | None = Field(
        None, description=f"昵称，去掉首尾空格后 1–{NICKNAME_MAX} 个字符", examples=["老王"]
    )
    home_grid_id: int | None = Field(
        None, description="所在网格 id（须为网格级区划），null 表示清除"
    )
    address: str | None = Field(
        None,
        description=f"住址，最多 {ADDRESS_MAX} 个字符，null 或空串表示清除",
        examples=["玉溪苑小区 3 号楼 2 单元 501"],
    )
    on_duty: bool | None = Field(
        None,
        description="在岗（仅工作人员）：false 时自动派单不再选本人（请假、出差），已有的诉求不变",
    )

    @field_validator("on_duty")
    @classmethod
    def _check_on_duty(cls, value: bool | None) -> bool:
        if value is None:
            raise ValueError("在岗状态只能是 true 或 false")
        return value

    @field_validator("nickname")
    @classmethod
    def _check_nickname(cls, value: str | None) -> str:
        value = (value or "").strip()
        if not value:
            raise ValueError("昵称不能为空")
        if len(value) > NICKNAME_MAX:
            raise ValueError(f"昵称最多 {NICKNAME_MAX} 个字符")
        return value

    @field_validator("address")
    @classmethod
    def _check_address(cls, value: str | None) -> str | None:
        value = (value or "").strip()
        if len(value) > ADDRESS_MAX:
            raise ValueError(f"住址最多 {ADDRESS_MAX} 个字符")
        return value or None
