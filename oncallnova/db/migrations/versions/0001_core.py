"""Services, alerts, incidents, timeline, change events.

Revision ID: 0001_core
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from oncallnova.db.types import UTCDateTime

revision = "0001_core"
down_revision = None
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
AutoBigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE IF NOT EXISTS incident_number_seq")
    op.create_table(
        "services",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("integration_key", sa.String(32), nullable=False),
        sa.Column("escalation_policy_id", sa.String(36)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_services"),
        sa.UniqueConstraint("name", name="uq_services_name"),
        sa.UniqueConstraint("integration_key", name="uq_services_integration_key"),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(1024), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("urgency", sa.String(8), nullable=False),
        sa.Column("service_id", sa.String(36), nullable=False),
        sa.Column("dedup_key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(80), nullable=False),
        sa.Column("alert_count", sa.Integer(), nullable=False),
        sa.Column("assignee_id", sa.String(36)),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("last_alert_at", UTCDateTime()),
        sa.Column("acknowledged_at", UTCDateTime()),
        sa.Column("resolved_at", UTCDateTime()),
        sa.PrimaryKeyConstraint("id", name="pk_incidents"),
        sa.UniqueConstraint("number", name="uq_incidents_number"),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name="fk_incidents_service_id_services"
        ),
    )
    op.create_index(
        "uq_incidents_open_dedup",
        "incidents",
        ["service_id", "dedup_key"],
        unique=True,
        postgresql_where=sa.text("status <> 'resolved'"),
        sqlite_where=sa.text("status <> 'resolved'"),
    )
    op.create_index("ix_incidents_status_created", "incidents", ["status", "created_at"])
    op.create_index("ix_incidents_service_created", "incidents", ["service_id", "created_at"])
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(100), nullable=False),
        sa.Column("service_id", sa.String(36), nullable=False),
        sa.Column("incident_id", sa.String(36)),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("fingerprint", sa.String(80), nullable=False),
        sa.Column("dedup_key", sa.String(255), nullable=False),
        sa.Column("summary", sa.String(1024), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("source", sa.String(1024)),
        sa.Column("source_format", sa.String(16), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("payload", JSONType, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], name="fk_alerts_service_id_services"),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name="fk_alerts_incident_id_incidents"
        ),
    )
    op.create_index("ix_alerts_incident", "alerts", ["incident_id"])
    op.create_table(
        "change_events",
        sa.Column("id", sa.String(100), nullable=False),
        sa.Column("service_id", sa.String(36), nullable=False),
        sa.Column("summary", sa.String(1024), nullable=False),
        sa.Column("source", sa.String(1024)),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("payload", JSONType, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_change_events"),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name="fk_change_events_service_id_services"
        ),
    )
    op.create_table(
        "incident_timeline",
        sa.Column("id", AutoBigInt, autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.String(36), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("source_id", sa.String(100), nullable=False),
        sa.Column("data", JSONType, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_incident_timeline"),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name="fk_incident_timeline_incident_id_incidents"
        ),
        sa.UniqueConstraint("incident_id", "kind", "source_id", name="uq_timeline_source"),
    )
    op.create_index("ix_timeline_incident_at", "incident_timeline", ["incident_id", "at"])
    op.create_index("ix_timeline_source", "incident_timeline", ["source_id"])


def downgrade() -> None:
    op.drop_table("incident_timeline")
    op.drop_table("change_events")
    op.drop_table("alerts")
    op.drop_table("incidents")
    op.drop_table("services")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE IF EXISTS incident_number_seq")
