"""Paging: escalation epoch and timers, service timeouts, notification rules and attempts,
the capture inbox, webhook subscriptions and their attempts.

Revision ID: 0004_paging
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from oncallnova.db.types import UTCDateTime

revision = "0004_paging"
down_revision = "0003_security"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
AutoBigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column(
        "incidents",
        sa.Column("escalation_epoch", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("services", sa.Column("acknowledgement_timeout", sa.Integer(), nullable=True))
    op.add_column("services", sa.Column("auto_resolve_timeout", sa.Integer(), nullable=True))
    op.create_table(
        "escalation_timers",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("incident_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("data", JSONType, nullable=False),
        sa.Column("fired_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_escalation_timers"),
    )
    op.create_index(
        "ix_escalation_timers_pending",
        "escalation_timers",
        ["due_at"],
        postgresql_where=sa.text("fired_at IS NULL"),
        sqlite_where=sa.text("fired_at IS NULL"),
    )
    op.create_index("ix_escalation_timers_incident", "escalation_timers", ["incident_id"])
    op.create_table(
        "notification_rules",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("contact_type", sa.String(32), nullable=False),
        sa.Column("contact_address", sa.String(320), nullable=False),
        sa.Column("start_delay_in_minutes", sa.Integer(), nullable=False),
        sa.Column("urgency", sa.String(8), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notification_rules"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_notification_rules_user_id_users",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_notification_rules_user_id", "notification_rules", ["user_id"])
    op.create_table(
        "notification_rule_sets",
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_notification_rule_sets"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_notification_rule_sets_user_id_users",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("incident_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("step", sa.String(64), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
    )
    op.create_index("ix_notifications_incident_id", "notifications", ["incident_id"])
    op.create_table(
        "used_action_tokens",
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("incident_id", sa.String(36), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("nonce", name="pk_used_action_tokens"),
    )
    op.create_table(
        "platform_secrets",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_platform_secrets"),
    )
    op.create_table(
        "captured_mail",
        sa.Column("id", AutoBigInt, nullable=False, autoincrement=True),
        sa.Column("message_id", sa.String(255), nullable=True),
        sa.Column("mail_from", sa.String(320), nullable=False),
        sa.Column("rcpt_to", JSONType, nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_captured_mail"),
    )
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("events", JSONType, nullable=False),
        sa.Column("filter_type", sa.String(32), nullable=False),
        sa.Column("filter_id", sa.String(64), nullable=True),
        sa.Column("custom_headers", JSONType, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("paused_reason", sa.Text(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_subscriptions"),
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("id", AutoBigInt, nullable=False, autoincrement=True),
        sa.Column("subscription_id", sa.String(36), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("incident_id", sa.String(36), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_attempts"),
    )
    op.create_index(
        "ix_webhook_attempts_subscription_id", "webhook_attempts", ["subscription_id"]
    )
    op.create_index(
        "ix_webhook_attempts_event", "webhook_attempts", ["subscription_id", "event_id"]
    )


def downgrade() -> None:
    for table in (
        "webhook_attempts",
        "webhook_subscriptions",
        "captured_mail",
        "platform_secrets",
        "used_action_tokens",
        "notifications",
        "notification_rule_sets",
        "notification_rules",
        "escalation_timers",
    ):
        op.drop_table(table)
    with op.batch_alter_table("services") as batch:
        batch.drop_column("auto_resolve_timeout")
        batch.drop_column("acknowledgement_timeout")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("escalation_epoch")
