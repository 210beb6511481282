"""The audit event types the dunning services write."""

from enum import StrEnum

from gridvend.audit.events import register


@register
class DunningEvent(StrEnum):
    RULE_CREATED = "dunning_rule.created"
    RULE_UPDATED = "dunning_rule.updated"
    TASK_OPENED = "dunning_task.opened"
    TASK_CLOSED = "dunning_task.closed"
    RUN_COMPLETED = "dunning_run.completed"
    VOICE_GENERATED = "dunning_voice.generated"
    DISCONNECTION_ISSUED = "disconnection_order.issued"
    DISCONNECTION_REFUSED = "disconnection_order.refused"
    DISCONNECTION_EXECUTED = "disconnection_order.executed"
    RECONNECTION_ORDERED = "reconnection_order.created"
    RECONNECTION_EXECUTED = "reconnection_order.executed"
    VISIT_RECORDED = "dunning_visit.recorded"
