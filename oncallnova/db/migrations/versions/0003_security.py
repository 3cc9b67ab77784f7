"""Security: logins and roles on users, services owned by teams, key rotation, API tokens and
the append-only audit log.

Revision ID: 0003_security
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from oncallnova.db.types import UTCDateTime

revision = "0003_security"
down_revision = "0003_service_webhook_secret"  # the head of main when this was written
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
AutoBigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("username", sa.String(64)))
        batch.add_column(sa.Column("password_hash", sa.String(255)))
        batch.add_column(
            sa.Column("role", sa.String(16), nullable=False, server_default="viewer")
        )
        batch.add_column(sa.Column("password_changed_at", UTCDateTime()))
        batch.create_unique_constraint("uq_users_username", ["username"])
    with op.batch_alter_table("services") as batch:
        batch.add_column(sa.Column("team_id", sa.String(36)))
        batch.add_column(sa.Column("previous_integration_key", sa.String(32)))
        batch.add_column(sa.Column("previous_key_expires_at", UTCDateTime()))
        batch.create_unique_constraint(
            "uq_services_previous_integration_key", ["previous_integration_key"]
        )
    op.create_index("ix_services_team_id", "services", ["team_id"])
    with op.batch_alter_table("schedules") as batch:
        batch.add_column(sa.Column("ical_feed_token", sa.String(64)))
        batch.create_unique_constraint("uq_schedules_ical_feed_token", ["ical_feed_token"])
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime()),
        sa.Column("last_used_at", UTCDateTime()),
        sa.Column("revoked_at", UTCDateTime()),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_api_tokens_user_id_users", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", AutoBigInt, nullable=False, autoincrement=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16)),
        sa.Column("address", sa.String(64)),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("route", sa.String(255), nullable=False),
        sa.Column("path", sa.String(2048), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("changes", JSONType, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    # Append-only, enforced by the database itself, not only by the absence of a route.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'audit_log is append-only'; END $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{event.lower()} BEFORE {event} ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
            )


def downgrade() -> None:
    op.drop_table("audit_log")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.drop_table("api_tokens")
    with op.batch_alter_table("schedules") as batch:
        batch.drop_constraint("uq_schedules_ical_feed_token", type_="unique")
        batch.drop_column("ical_feed_token")
    op.drop_index("ix_services_team_id", "services")
    with op.batch_alter_table("services") as batch:
        batch.drop_constraint("uq_services_previous_integration_key", type_="unique")
        batch.drop_column("previous_key_expires_at")
        batch.drop_column("previous_integration_key")
        batch.drop_column("team_id")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_username", type_="unique")
        batch.drop_column("password_changed_at")
        batch.drop_column("role")
        batch.drop_column("password_hash")
        batch.drop_column("username")
