"""Request and response bodies of staff management (/admin/staff)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

# Roles an admin may grant through the API; superadmin only comes from the CLI.
GrantableRole = Literal[
    "grid_worker",
    "grid_worker_part",
    "grid_leader",
    "community_admin",
    "street_admin",
    "district_admin",
    "department_staff",
]

PHONE_PATTERN = r"^1[3-9]\d{9}$"
USERNAME_PATTERN = r"^[A-Za-z0-9_.@-]+$"
PASSWORD_MIN = 8
# argon2 hashes any length, but an unbounded body is a cheap way to burn CPU.
PASSWORD_MAX = 128

Username = Annotated[
    str,
    StringConstraints(min_length=3, max_length=64, pattern=USERNAME_PATTERN),
    Field(
        description="登录账号：3–64 位字母、数字或 _ . @ -，不区分大小写地唯一", examples=["wangwu"]
    ),
]
Password = Annotated[
    str,
    StringConstraints(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX),
    Field(description="登录密码，8–128 个字符", examples=["Qinyang-2026"]),
]
StaffName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    Field(description="姓名", examples=["王五"]),
]
Phone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=PHONE_PATTERN),
    Field(description="中国大陆手机号（11 位，1 开头）", examples=["13912345678"]),
]


class StaffCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username
    password: Password
    name: StaffName
    phone: Phone | None = Field(None, description="中国大陆手机号（11 位，1 开头），可不填")
    role: GrantableRole = Field(description="首个角色；不能通过接口授予 superadmin")
    region_id: int = Field(description="角色所在区划的 id，须在调用者管辖范围内且层级与角色相符")
    department_id: int | None = Field(
        None, description="所属部门 id；仅 department_staff 需要且必填"
    )


class RoleGrantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: GrantableRole = Field(description="要授予的角色")
    region_id: int = Field(description="角色所在区划的 id，须在调用者管辖范围内且层级与角色相符")
    department_id: int | None = Field(
        None, description="所属部门 id；仅 department_staff 需要且必填"
    )


class StaffUpdate(BaseModel):
    """Only the fields sent are changed; ``phone: null`` clears the phone."""

    model_config = ConfigDict(extra="forbid")

    on_duty: bool | None = Field(None, description="是否在岗；不在岗的网格员不参与自动派单")
    disabled: bool | None = Field(None, description="是否停用；停用后该账号所有已登录设备立即失效")
    password: Password | None = Field(
        None, description="重置密码（8–128 个字符）；重置后该账号所有已登录设备立即失效"
    )
    current_password: str | None = Field(
        None,
        max_length=128,
        description="修改自己的密码时必填：当前密码（仅凭登录令牌不能改掉本人的密码）",
    )
    name: StaffName | None = Field(None, description="姓名")
    phone: Phone | None = Field(None, description="手机号；传 null 表示清空")

    @model_validator(mode="before")
    @classmethod
    def _no_null_except_phone(cls, data: Any) -> Any:
        # Absent means "leave as is"; null is only meaningful for the phone.
        if isinstance(data, dict):
            for key in ("on_duty", "disabled", "password", "name"):
                if key in data and data[key] is None:
                    raise ValueError(f"{key} 不能为 null")
        return data


class StaffRole(BaseModel):
    id: int = Field(description="角色授予记录（membership）的 id，撤销角色时使用")
    role: str = Field(description="角色")
    region_id: int | None = Field(description="区划 id；superadmin 为 null")
    region_name: str | None = Field(description="区划名称")
    region_level: str | None = Field(description="区划层级：district|street|community|grid")
    department_id: int | None = Field(None, description="所属部门 id（department_staff）")
    department_name: str | None = Field(None, description="所属部门名称")


class StaffRead(BaseModel):
    id: int = Field(description="用户 id")
    username: str | None = Field(description="登录账号")
    name: str | None = Field(description="姓名")
    phone: str | None = Field(description="手机号（工作人员不做脱敏）")
    phone_masked: str | None = Field(description="脱敏手机号，如 139****5678")
    on_duty: bool = Field(description="是否在岗")
    disabled: bool = Field(description="是否已停用")
    roles: list[StaffRole] = Field(
        description="持有的角色中在调用者管辖范围内的那些（系统管理员和本人可见全部）"
    )
    created_at: datetime = Field(description="创建时间")


StaffRoleFilter = Literal[
    "grid_worker",
    "grid_worker_part",
    "grid_leader",
    "community_admin",
    "street_admin",
    "district_admin",
    "department_staff",
    "superadmin",
]
