"""Services: an optional secret for signed incoming webhooks (Grafana's HMAC).

Revision ID: 0003_service_webhook_secret
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_service_webhook_secret"
down_revision = "0002_oncall"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("services", sa.Column("webhook_secret", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("services") as batch:
        batch.drop_column("webhook_secret")
