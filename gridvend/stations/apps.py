"""App configuration for the offline vending stations."""

from django.apps import AppConfig


class StationsConfig(AppConfig):
    name = "gridvend.stations"
    label = "stations"
    verbose_name = "Offline vending stations"

    def ready(self) -> None:
        # Registers the app's audit event types, so the operation log lists them from the start.
        from gridvend.jobs import queue
        from gridvend.org import move_hooks
        from gridvend.stations import events  # noqa: F401
        from gridvend.stations.services import lanes, offline, registration
        from gridvend.stations.tasks import SYNC_CRON, SYNC_JOB, SYNC_SCHEDULE
        from gridvend.vending import sale_hooks, shift_hooks

        # Station mode: each hook asks at call time whether this install is a station (the
        # table may not exist yet at import) and does nothing on the master.
        sale_hooks.register_tid_lane(offline.tid_lane)
        sale_hooks.register_sale_hook(offline.SALE_HOOK, offline.journal_sale)
        sale_hooks.register_online_guard(offline.SALE_HOOK, offline.refuse_online_only)
        sale_hooks.register_offline_seller(offline.SALE_HOOK, offline.sold_offline_by)
        shift_hooks.register_shift_hooks(
            offline.SALE_HOOK,
            opened=offline.journal_shift_opened,
            closed=offline.journal_shift_closed,
        )
        # A move in the tree must not let two stations sell to the same meters in one lane.
        move_hooks.register_move_check("stations.tid_lanes", lanes.check_unit_move)
        # A revoked station's vending point is not reopened.
        move_hooks.register_point_status_check(
            "stations.revoked_point", registration.check_point_status
        )
        # The station's sync cycle, every minute; on the master it returns at once.
        queue.declare_schedule(SYNC_SCHEDULE, SYNC_JOB, cron=SYNC_CRON)
