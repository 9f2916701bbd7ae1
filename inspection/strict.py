"""The base of every configuration and contract model: unknown fields are errors, not typos."""

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
