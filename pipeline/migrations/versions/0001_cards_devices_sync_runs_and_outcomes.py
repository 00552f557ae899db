"""Cards, devices, sync runs and outcomes.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CARD_IS_DUE = (
    "google_object_id IS NOT NULL AND google_synced_version < version"
    " OR apple_serial IS NOT NULL AND apple_synced_version < version"
)


def upgrade() -> None:

    op.create_table(
        "apple_devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_library_id", sa.String(length=200), nullable=False),
        sa.Column("push_token", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apple_devices")),
        sa.UniqueConstraint(
            "device_library_id", name=op.f("uq_apple_devices_device_library_id")
        ),
    )
    op.create_table(
        "merchants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merchants")),
    )
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cards_total", sa.Integer(), nullable=False),
        sa.Column("cards_pending", sa.Integer(), nullable=False),
        sa.Column("missed_hours", sa.Integer(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_runs")),
        sa.UniqueConstraint("scheduled_for", name=op.f("uq_sync_runs_scheduled_for")),
    )
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sync_runs_status", ["status", "opened_at"], unique=False
        )

    op.create_table(
        "apple_registrations",
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("pass_type_id", sa.String(length=200), nullable=False),
        sa.Column("serial_number", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["apple_devices.id"],
            name=op.f("fk_apple_registrations_device_id_apple_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "device_id",
            "pass_type_id",
            "serial_number",
            name=op.f("pk_apple_registrations"),
        ),
    )
    with op.batch_alter_table("apple_registrations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_apple_registrations_pass",
            ["pass_type_id", "serial_number"],
            unique=False,
        )

    op.create_table(
        "programs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("points_label", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_programs_merchant_id_merchants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programs")),
    )
    with op.batch_alter_table("programs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_programs_merchant_id"), ["merchant_id"], unique=False
        )

    op.create_table(
        "sync_outcomes",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column(
            "card_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error_kind", sa.String(length=40), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("wallet", sa.String(length=20), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["sync_runs.id"], name=op.f("fk_sync_outcomes_run_id_sync_runs")
        ),
        sa.PrimaryKeyConstraint("run_id", "card_id", name=op.f("pk_sync_outcomes")),
    )
    op.create_table(
        "wallet_breakers",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("wallet", sa.String(length=20), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("tripped_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["sync_runs.id"],
            name=op.f("fk_wallet_breakers_run_id_sync_runs"),
        ),
        sa.PrimaryKeyConstraint("run_id", "wallet", name=op.f("pk_wallet_breakers")),
    )
    op.create_table(
        "loyalty_cards",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("holder_name", sa.String(length=200), nullable=False),
        sa.Column("account_id", sa.String(length=100), nullable=False),
        sa.Column("points_balance", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("google_object_id", sa.String(length=200), nullable=True),
        sa.Column("google_class_id", sa.String(length=200), nullable=True),
        sa.Column("google_synced_version", sa.Integer(), nullable=False),
        sa.Column("apple_serial", sa.String(length=200), nullable=True),
        sa.Column("apple_pass_type_id", sa.String(length=200), nullable=True),
        sa.Column("apple_update_tag", sa.Integer(), nullable=False),
        sa.Column("apple_synced_version", sa.Integer(), nullable=False),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["programs.id"],
            name=op.f("fk_loyalty_cards_program_id_programs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_cards")),
        sa.UniqueConstraint(
            "apple_pass_type_id",
            "apple_serial",
            name=op.f("uq_loyalty_cards_apple_pass_type_id"),
        ),
        sa.UniqueConstraint(
            "google_object_id", name=op.f("uq_loyalty_cards_google_object_id")
        ),
    )
    with op.batch_alter_table("loyalty_cards", schema=None) as batch_op:
        batch_op.create_index(
            "ix_loyalty_cards_due",
            ["id"],
            unique=False,
            postgresql_where=sa.text(CARD_IS_DUE),
            sqlite_where=sa.text(CARD_IS_DUE),
        )
        batch_op.create_index(
            batch_op.f("ix_loyalty_cards_program_id"), ["program_id"], unique=False
        )

    op.create_table(
        "point_transactions",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "card_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["card_id"],
            ["loyalty_cards.id"],
            name=op.f("fk_point_transactions_card_id_loyalty_cards"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_point_transactions")),
    )
    with op.batch_alter_table("point_transactions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_point_transactions_card", ["card_id", "created_at"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("point_transactions", schema=None) as batch_op:
        batch_op.drop_index("ix_point_transactions_card")

    op.drop_table("point_transactions")
    with op.batch_alter_table("loyalty_cards", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loyalty_cards_program_id"))
        batch_op.drop_index(
            "ix_loyalty_cards_due",
            postgresql_where=sa.text(CARD_IS_DUE),
            sqlite_where=sa.text(CARD_IS_DUE),
        )

    op.drop_table("loyalty_cards")
    op.drop_table("wallet_breakers")
    op.drop_table("sync_outcomes")
    with op.batch_alter_table("programs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_programs_merchant_id"))

    op.drop_table("programs")
    with op.batch_alter_table("apple_registrations", schema=None) as batch_op:
        batch_op.drop_index("ix_apple_registrations_pass")

    op.drop_table("apple_registrations")
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_runs_status")

    op.drop_table("sync_runs")
    op.drop_table("merchants")
    op.drop_table("apple_devices")
