"""The audit trail becomes AUDIT_STREAMS (32) chains, each with its own head, so that unrelated
audited writes no longer wait for one another (docs/tamper-evidence.md).

Every event written before keeps its seq and hash and becomes stream 0, scheme 1 (the whole-row
hash); the single head becomes stream 0's head; streams 1..31 start at the genesis hash. Not
reversible: once events are written to other streams, one chain cannot hold them.
"""

from django.db import migrations, models

GENESIS_HASH = "0" * 64
# The number of streams when this migration was written; gridvend.audit.streams.AUDIT_STREAMS
# may only change in a later migration that adds or retires heads and moves the constraints.
STREAMS = 32
TABLES = ("audit_auditevent", "audit_audithead")


def lift_guards(apps, schema_editor):
    """The tables are rebuilt and the head row renumbered, which the guards would refuse."""
    from gridvend.audit.triggers import uninstall

    uninstall(schema_editor.connection, TABLES)


def heads_and_guards(apps, schema_editor):
    from gridvend.audit.triggers import install

    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT seq FROM audit_audithead WHERE id = 1")
        old = cursor.fetchone()
        if old is not None:
            # The old chain's end: stream 0's head, with the link of its last event.
            cursor.execute(
                "SELECT prev_hash FROM audit_auditevent WHERE stream = 0 AND seq = %s", [old[0]]
            )
            last = cursor.fetchone()
            cursor.execute(
                "UPDATE audit_audithead SET id = 0, prev_hash = %s WHERE id = 1",
                [last[0] if last is not None else GENESIS_HASH],
            )
        cursor.execute("SELECT id FROM audit_audithead")
        present = {row[0] for row in cursor.fetchall()}
        for stream in range(STREAMS):
            if stream not in present:
                cursor.execute(
                    "INSERT INTO audit_audithead (id, seq, prev_hash, hash) VALUES (%s, 0, %s, %s)",
                    [stream, GENESIS_HASH, GENESIS_HASH],
                )
    install(connection, TABLES)


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_truncate_and_head_guards")]

    operations = [
        migrations.RunPython(lift_guards),
        migrations.AddField(
            model_name="auditevent",
            name="stream",
            field=models.PositiveSmallIntegerField(default=0),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="scheme",
            field=models.PositiveSmallIntegerField(default=1),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="seq",
            field=models.BigIntegerField(),
        ),
        migrations.AlterModelOptions(
            name="auditevent",
            options={"ordering": ["-id"]},
        ),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(
                fields=("stream", "seq"), name="audit_event_stream_seq"
            ),
        ),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.CheckConstraint(
                condition=models.Q(stream__lt=STREAMS), name="audit_event_stream_range"
            ),
        ),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.CheckConstraint(
                condition=models.Q(scheme__in=(1, 2)), name="audit_event_scheme_known"
            ),
        ),
        migrations.AddField(
            model_name="audithead",
            name="prev_hash",
            field=models.CharField(default=GENESIS_HASH, max_length=64),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="audithead",
            name="id",
            field=models.PositiveSmallIntegerField(primary_key=True, serialize=False),
        ),
        migrations.AddConstraint(
            model_name="audithead",
            constraint=models.CheckConstraint(
                condition=models.Q(id__lt=STREAMS), name="audit_head_stream_range"
            ),
        ),
        migrations.RunPython(heads_and_guards),
    ]
