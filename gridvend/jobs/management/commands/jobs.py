"""`gridvend jobs`: see and act on background work — outbox messages (SMS, e-mail, advices),
queued jobs and periodic schedules. Failed deliveries are listed and sent again from here."""

from __future__ import annotations

import getpass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from gridvend.jobs import outbox, queue, selectors, services
from gridvend.jobs.models import OutboxMessage, OutboxStatus
from gridvend.kernel.errors import DomainError

# Payload fields that hold a message's text (a token SMS holds tokens): shown by their length.
_TEXT_FIELDS = frozenset({"text", "body", "html", "message", "subject"})


def _when(value: Any) -> str:
    if value is None:
        return "-"
    return str(timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S"))


def _first_line(text: str, width: int = 100) -> str:
    line = (text or "").splitlines()[0] if text else ""
    return line if len(line) <= width else line[: width - 1] + "…"


class Command(BaseCommand):
    help = (
        "Background work: `status` (outbox, queue, schedules), `failed` (messages that could "
        "not be delivered), `show ID`, `retry ID...` or `retry --all-failed`, `drain` (deliver "
        "due messages now, in this process) and `run` (run due schedules and queued jobs once, "
        "in this process, where no worker runs)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        actions.add_parser("status", help="outbox counts, queued jobs and schedules")
        failed = actions.add_parser("failed", help="messages that failed for good")
        failed.add_argument("--kind", default=None, help="only this kind (sms, email, ...)")
        failed.add_argument("--limit", type=int, default=50, help="at most this many (1-1000)")
        show = actions.add_parser("show", help="one message, its attempts and last error")
        show.add_argument("id", type=int)
        retry = actions.add_parser("retry", help="send failed messages again")
        retry.add_argument("ids", type=int, nargs="*", metavar="ID")
        retry.add_argument("--all-failed", action="store_true", help="every failed message")
        retry.add_argument("--kind", default=None, help="with --all-failed: only this kind")
        retry.add_argument("--by", default=None, help="who asks (for the log); default: you")
        drain = actions.add_parser("drain", help="deliver due messages now, in this process")
        drain.add_argument("--kind", action="append", default=None, help="only this kind")
        actions.add_parser("run", help="run due schedules and queued jobs once, in this process")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            if action == "status":
                self._status()
            elif action == "failed":
                self._failed(options["kind"], options["limit"])
            elif action == "show":
                self._show(options["id"])
            elif action == "retry":
                self._retry(options)
            elif action == "drain":
                counts = outbox.drain(kinds=options["kind"])
                self.stdout.write(self._counts(counts))
            elif action == "run":
                self._run()
        except DomainError as exc:
            raise CommandError(str(exc.message)) from None

    @staticmethod
    def _counts(counts: dict[str, int]) -> str:
        return ", ".join(f"{counts.get(k, 0)} {k}" for k in ("sent", "retry", "failed"))

    def _status(self) -> None:
        summary = selectors.outbox_summary()
        self.stdout.write(
            f"SMS: {settings.SMS_BACKEND}; e-mail: "
            f"{settings.EMAIL_CHANNEL}; handlers: "
            f"{', '.join(outbox.registered_kinds()) or 'none'}"
        )
        self.stdout.write("outbox:")
        kinds = sorted({kind for kind, _status in summary.counts})
        if not kinds:
            self.stdout.write("  (empty)")
        for kind in kinds:
            cells = "  ".join(
                f"{status} {summary.counts.get((kind, status), 0)}" for status in OutboxStatus
            )
            self.stdout.write(f"  {kind:<24} {cells}")
        if summary.oldest_due_at is not None:
            self.stdout.write(
                f"  oldest unfinished message due since {_when(summary.oldest_due_at)}"
            )
        failed = summary.total(OutboxStatus.FAILED)
        if failed:
            self.stdout.write(
                self.style.WARNING(
                    f"  {failed} failed: `gridvend jobs failed` lists them, "
                    "`gridvend jobs retry` sends them again"
                )
            )
        jobs = queue.queued_jobs()
        taken = sum(1 for job in jobs if job.taken_until is not None)
        self.stdout.write(f"queue: {len(jobs)} job(s), {taken} being run")
        by_func: dict[str, int] = {}
        for job in jobs:
            by_func[job.func] = by_func.get(job.func, 0) + 1
        for func, n in sorted(by_func.items()):
            self.stdout.write(f"  {func}: {n}")
        from django_q.models import Failure, Schedule

        day_ago = timezone.now() - timedelta(days=1)
        failures = Failure.objects.filter(stopped__gte=day_ago).count()
        if failures:
            self.stdout.write(self.style.WARNING(f"  {failures} job run(s) failed in 24 hours"))
        self.stdout.write("schedules:")
        for schedule in Schedule.objects.order_by("name"):
            self.stdout.write(
                f"  {schedule.name}: {schedule.func} at '{schedule.cron or schedule.schedule_type}'"
                f", next {_when(schedule.next_run)}"
            )

    def _failed(self, kind: str | None, limit: int) -> None:
        if not 1 <= limit <= 1000:
            raise CommandError("--limit must be from 1 to 1000")
        rows = selectors.list_outbox_messages(status=OutboxStatus.FAILED, kind=kind, limit=limit)
        if not rows:
            self.stdout.write("No failed messages.")
            return
        self.stdout.write(f"{'id':>8}  {'kind':<12} {'attempts':>8}  {'last attempt':<19}  key")
        for row in rows:
            self.stdout.write(
                f"{row.pk:>8}  {row.kind:<12} {row.attempts:>8}  {_when(row.last_attempt_at):<19}"
                f"  {row.key}"
            )
            self.stdout.write(f"{'':>10}{_first_line(row.last_error)}")

    def _show(self, message_id: int) -> None:
        row = selectors.get_outbox_message(message_id)
        if row is None:
            raise CommandError(f"No outbox message {message_id} was found.")
        self._describe(row)

    def _describe(self, row: OutboxMessage) -> None:
        self.stdout.write(f"message {row.pk}: {row.kind} {row.key}")
        self.stdout.write(f"  status:        {row.status} after {row.attempts} attempt(s)")
        self.stdout.write(f"  created:       {_when(row.created_at)}")
        self.stdout.write(f"  last attempt:  {_when(row.last_attempt_at)}")
        if row.status in (OutboxStatus.PENDING, OutboxStatus.SENDING):
            self.stdout.write(f"  next attempt:  {_when(row.next_attempt_at)}")
        if row.sent_at:
            self.stdout.write(f"  sent:          {_when(row.sent_at)} {row.receipt}")
        for name, value in sorted(row.payload.items()):
            shown = (
                f"<{len(value)} characters>"
                if name in _TEXT_FIELDS and isinstance(value, str)
                else repr(value)
            )
            self.stdout.write(f"  payload {name}: {shown}")
        if row.last_error:
            self.stdout.write("  last error:")
            for line in row.last_error.splitlines()[:20]:
                self.stdout.write(f"    {line}")

    def _retry(self, options: dict[str, Any]) -> None:
        by = options["by"] or getpass.getuser()
        if options["all_failed"]:
            if options["ids"]:
                raise CommandError("give message ids or --all-failed, not both")
            count = services.retry_failed_outbox_messages(kind=options["kind"], by=by)
            self.stdout.write(f"{count} failed message(s) will be sent again.")
            return
        if not options["ids"]:
            raise CommandError("give the ids of failed messages, or --all-failed")
        for message_id in options["ids"]:
            row = services.retry_outbox_message(message_id=message_id, by=by)
            self.stdout.write(f"Message {row.pk} ({row.kind} {row.key}) will be sent again.")

    def _run(self) -> None:
        from django_q.scheduler import scheduler

        queue.ensure_declared_schedules()
        scheduler()
        done = queue.run_queued_jobs()
        self.stdout.write(f"{done} job(s) run.")
