"""Metrics worker: per-incident facts, derived series, received messages already counted.

Revision ID: 0005_metrics
"""

import sqlalchemy as sa
from alembic import op

from oncallnova.db.types import UTCDateTime

revision = "0005_metrics"
down_revision = "0004_paging"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metric_incidents",
        sa.Column("incident_id", sa.String(36), primary_key=True),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("service_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=True),
        sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "metric_series",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("labels", sa.String(255), primary_key=True),
        sa.Column("value", sa.Float(), nullable=False),
    )
    op.create_table(
        "metric_seen_messages",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("metric_seen_messages")
    op.drop_table("metric_series")
    op.drop_table("metric_incidents")
