"""What copies of a partitioned worker say to each other on `worker.roster.v1.<consumer>`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RosterBeatV1(BaseModel):
    """ "I am here" (every second), or "I am leaving" (once, on a clean stop)."""

    model_config = ConfigDict(extra="ignore")

    copy_id: str = Field(
        min_length=1, max_length=200, description="The copy's id, unique per start."
    )
    leaving: bool = Field(default=False, description="True once, when the copy stops cleanly.")
