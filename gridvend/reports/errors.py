"""Refusals of reports with stable codes."""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext_lazy

from gridvend.kernel.errors import DomainError


class ReportErrorCode(StrEnum):
    REPORT_FORMAT_UNKNOWN = "REPORT_FORMAT_UNKNOWN"
    REPORT_TOO_LARGE_FOR_PDF = "REPORT_TOO_LARGE_FOR_PDF"
    REPORT_SUBSCRIPTION_LIMIT = "REPORT_SUBSCRIPTION_LIMIT"
    REPORT_SUBSCRIBER_INACTIVE = "REPORT_SUBSCRIBER_INACTIVE"
    REPORT_SUBSCRIBER_OUT_OF_SCOPE = "REPORT_SUBSCRIBER_OUT_OF_SCOPE"
    REPORT_SUBSCRIBER_NO_EMAIL = "REPORT_SUBSCRIBER_NO_EMAIL"
    REPORT_SNAPSHOT_DAY_OPEN = "REPORT_SNAPSHOT_DAY_OPEN"


class ReportFormatUnknown(DomainError):
    code = ReportErrorCode.REPORT_FORMAT_UNKNOWN
    message_template = gettext_lazy("Reports are written as CSV, XLSX or PDF, not %(format)s.")

    def __init__(self, *, format: str) -> None:
        super().__init__(format=format)


class ReportTooLargeForPdf(DomainError):
    code = ReportErrorCode.REPORT_TOO_LARGE_FOR_PDF
    message_template = gettext_lazy(
        "This report has %(rows)s rows; a PDF holds at most %(limit)s. Narrow the filters, or "
        "export it as CSV or XLSX, which hold any number of rows."
    )

    def __init__(self, *, rows: int, limit: int) -> None:
        super().__init__(rows=rows, limit=limit)


class ReportSubscriptionLimit(DomainError):
    code = ReportErrorCode.REPORT_SUBSCRIPTION_LIMIT
    message_template = gettext_lazy(
        "You have %(limit)s report subscriptions, the most one person may have. Delete one first."
    )

    def __init__(self, *, limit: int) -> None:
        super().__init__(limit=limit)


class ReportSubscriberInactive(DomainError):
    code = ReportErrorCode.REPORT_SUBSCRIBER_INACTIVE
    message_template = gettext_lazy(
        "The subscriber's account is deactivated: the report was not sent and the subscription "
        "is suspended."
    )


class ReportSubscriberOutOfScope(DomainError):
    code = ReportErrorCode.REPORT_SUBSCRIBER_OUT_OF_SCOPE
    message_template = gettext_lazy(
        "The subscriber may no longer read this report with these filters: it was not sent and "
        "the subscription is suspended."
    )


class ReportSubscriberNoEmail(DomainError):
    code = ReportErrorCode.REPORT_SUBSCRIBER_NO_EMAIL
    message_template = gettext_lazy(
        "The subscriber has no e-mail address: reports are sent by e-mail, so none can be sent "
        "until an administrator records one."
    )


class ReportSnapshotDayOpen(DomainError):
    code = ReportErrorCode.REPORT_SNAPSHOT_DAY_OPEN
    message_template = gettext_lazy(
        "Business date %(as_of)s has not closed yet (today is %(today)s): abnormal findings are "
        "computed for a closed day only."
    )

    def __init__(self, *, as_of: str, today: str) -> None:
        super().__init__(as_of=as_of, today=today)
