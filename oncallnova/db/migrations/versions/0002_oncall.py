"""Users, teams, schedules (layers, members, restrictions, overrides), escalation policies.

Revision ID: 0002_oncall
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from oncallnova.db.types import UTCDateTime

revision = "0002_oncall"
down_revision = "0001_core"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _id() -> sa.Column:
    return sa.Column("id", sa.String(36), nullable=False)


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}", ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "users",
        _id(),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("contact_methods", JSONType, nullable=False),
        sa.Column("ical_feed_token", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("email", name="uq_users_email"),
        sa.UniqueConstraint("ical_feed_token", name="uq_users_ical_feed_token"),
    )
    op.create_table(
        "teams",
        _id(),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_teams"),
        sa.UniqueConstraint("name", name="uq_teams_name"),
    )
    op.create_table(
        "team_memberships",
        _id(),
        sa.Column("team_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_team_memberships"),
        sa.UniqueConstraint("team_id", "user_id", name="uq_team_memberships_team_id"),
        _fk("team_memberships", "team_id", "teams", "CASCADE"),
        _fk("team_memberships", "user_id", "users", "CASCADE"),
    )
    op.create_index("ix_team_memberships_user_id", "team_memberships", ["user_id"])
    op.create_table(
        "schedules",
        _id(),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("team_id", sa.String(36)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_schedules"),
        sa.UniqueConstraint("name", name="uq_schedules_name"),
        _fk("schedules", "team_id", "teams", "SET NULL"),
    )
    op.create_index("ix_schedules_team_id", "schedules", ["team_id"])
    op.create_table(
        "schedule_layers",
        _id(),
        sa.Column("schedule_id", sa.String(36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("rotation_start", sa.DateTime(timezone=False), nullable=False),
        sa.Column("end", sa.DateTime(timezone=False)),
        sa.Column("turn_unit", sa.String(8), nullable=False),
        sa.Column("turn_length", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_schedule_layers"),
        sa.UniqueConstraint("schedule_id", "position", name="uq_schedule_layers_schedule_id"),
        sa.CheckConstraint("turn_length >= 1", name="ck_schedule_layers_turn_length_positive"),
        sa.CheckConstraint(
            "turn_unit IN ('hours', 'days', 'weeks')", name="ck_schedule_layers_turn_unit_known"
        ),
        _fk("schedule_layers", "schedule_id", "schedules", "CASCADE"),
    )
    op.create_table(
        "schedule_layer_members",
        _id(),
        sa.Column("layer_id", sa.String(36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_schedule_layer_members"),
        sa.UniqueConstraint("layer_id", "position", name="uq_schedule_layer_members_layer_id"),
        _fk("schedule_layer_members", "layer_id", "schedule_layers", "CASCADE"),
        _fk("schedule_layer_members", "user_id", "users", "RESTRICT"),
    )
    op.create_index("ix_schedule_layer_members_user_id", "schedule_layer_members", ["user_id"])
    op.create_table(
        "schedule_layer_restrictions",
        _id(),
        sa.Column("layer_id", sa.String(36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("weekdays", JSONType, nullable=False),
        sa.Column("start_time", sa.Time(), nullable=False),
        sa.Column("end_time", sa.Time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_schedule_layer_restrictions"),
        _fk("schedule_layer_restrictions", "layer_id", "schedule_layers", "CASCADE"),
    )
    op.create_table(
        "schedule_overrides",
        _id(),
        sa.Column("schedule_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("start", UTCDateTime(), nullable=False),
        sa.Column("end", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_schedule_overrides"),
        sa.CheckConstraint('"end" > start', name="ck_schedule_overrides_end_after_start"),
        _fk("schedule_overrides", "schedule_id", "schedules", "CASCADE"),
        _fk("schedule_overrides", "user_id", "users", "RESTRICT"),
    )
    op.create_index(
        "ix_schedule_overrides_schedule_window", "schedule_overrides", ["schedule_id", "start", "end"]
    )
    op.create_index("ix_schedule_overrides_user_id", "schedule_overrides", ["user_id"])
    op.create_table(
        "escalation_policies",
        _id(),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("num_loops", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(36)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_escalation_policies"),
        sa.UniqueConstraint("name", name="uq_escalation_policies_name"),
        sa.CheckConstraint("num_loops >= 0", name="ck_escalation_policies_num_loops_not_negative"),
        _fk("escalation_policies", "team_id", "teams", "SET NULL"),
    )
    op.create_index("ix_escalation_policies_team_id", "escalation_policies", ["team_id"])
    op.create_table(
        "escalation_levels",
        _id(),
        sa.Column("policy_id", sa.String(36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("delay_minutes", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_escalation_levels"),
        sa.UniqueConstraint("policy_id", "position", name="uq_escalation_levels_policy_id"),
        sa.CheckConstraint("delay_minutes >= 1", name="ck_escalation_levels_delay_positive"),
        _fk("escalation_levels", "policy_id", "escalation_policies", "CASCADE"),
    )
    op.create_table(
        "escalation_targets",
        _id(),
        sa.Column("level_id", sa.String(36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("target_type", sa.String(16), nullable=False),
        sa.Column("user_id", sa.String(36)),
        sa.Column("schedule_id", sa.String(36)),
        sa.PrimaryKeyConstraint("id", name="pk_escalation_targets"),
        sa.CheckConstraint(
            "(target_type = 'user' AND user_id IS NOT NULL AND schedule_id IS NULL) OR "
            "(target_type = 'schedule' AND schedule_id IS NOT NULL AND user_id IS NULL)",
            name="ck_escalation_targets_one_target",
        ),
        _fk("escalation_targets", "level_id", "escalation_levels", "CASCADE"),
        _fk("escalation_targets", "user_id", "users", "RESTRICT"),
        _fk("escalation_targets", "schedule_id", "schedules", "RESTRICT"),
    )
    op.create_index("ix_escalation_targets_user_id", "escalation_targets", ["user_id"])
    op.create_index("ix_escalation_targets_schedule_id", "escalation_targets", ["schedule_id"])


def downgrade() -> None:
    for table in (
        "escalation_targets",
        "escalation_levels",
        "escalation_policies",
        "schedule_overrides",
        "schedule_layer_restrictions",
        "schedule_layer_members",
        "schedule_layers",
        "schedules",
        "team_memberships",
        "teams",
        "users",
    ):
        op.drop_table(table)
