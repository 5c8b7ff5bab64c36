"""Errors of the convenience domain: a stable ``code`` and a Chinese message each."""

from __future__ import annotations

from app.core.errors import Conflict, Invalid, NotFound


class ServiceNotFound(NotFound):
    code = "service.not_found"
    message = "便民服务事项不存在"


class ServiceNotErrand(Invalid):
    code = "service.not_errand"
    message = "该事项不提供代办，请选择可代办的事项"


class ServiceNotBookable(Invalid):
    code = "service.not_bookable"
    message = "该事项不支持预约，不能发布预约时段"


class RegionRequired(Invalid):
    code = "region.required"
    message = "您管理多个区划，请用 region_id 指明所属区划"


class OutsideChina(Invalid):
    code = "geo.outside_china"
    message = "位置不在中国境内，请重新选择"


class PointNotFound(NotFound):
    code = "service_point.not_found"
    message = "服务点不存在"


class PointInactive(Invalid):
    code = "service_point.inactive"
    message = "该服务点已停用，不能发布预约时段"


class SlotNotFound(NotFound):
    code = "slot.not_found"
    message = "预约时段不存在"


class SlotInPast(Invalid):
    code = "slot.in_past"
    message = "时段的开始时间已过，不能发布"


class SlotTooFarAhead(Invalid):
    code = "slot.too_far_ahead"
    message = "时段最多提前一年发布"


class SlotOutsideHours(Invalid):
    code = "slot.outside_opening_hours"
    message = "时段不在服务点的营业时间内"


class SlotOutsideServiceRegion(Invalid):
    code = "slot.point_outside_service_region"
    message = "该服务点不在此事项的服务范围内"


class BookingNotFound(NotFound):
    code = "booking.not_found"
    message = "预约不存在"


class SlotFull(Conflict):
    code = "booking.full"
    message = "该时段已约满，请选择其他时段"


class PointUnavailable(Conflict):
    code = "booking.point_inactive"
    message = "该服务点已停用，暂不能预约"


class SlotStarted(Conflict):
    code = "booking.slot_started"
    message = "该时段已开始，不能预约或取消"


class AlreadyBooked(Conflict):
    code = "booking.duplicate"
    message = "您已预约该时段，无需重复预约"


class BookingUnavailable(Conflict):
    code = "booking.service_unavailable"
    message = "该事项暂停预约"


class AlreadyCancelled(Conflict):
    code = "booking.already_cancelled"
    message = "该预约已取消"


class AlreadyCheckedIn(Conflict):
    code = "booking.already_checked_in"
    message = "该预约已签到"


class CheckInNotOpen(Conflict):
    code = "booking.check_in_not_open"
    message = "不在签到时间内：时段开始前 1 小时至当天结束可签到"
