"""DataLoaders for users: one Postgres query per batch, results in key order."""

from __future__ import annotations

from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from chirp.persistence import users
from chirp.persistence.postgres import Database
from chirp.persistence.users import UserRecord


class UserByIdLoader(DataLoader[int, UserRecord | None]):
    def __init__(self, db: Database) -> None:
        self._db = db
        super().__init__(load_fn=self._load)

    async def _load(self, keys: Sequence[int]) -> list[UserRecord | None]:
        found = {user.id: user for user in await users.users_by_ids(self._db.read, keys)}
        return [found.get(key) for key in keys]

    def prime_record(self, user: UserRecord) -> None:
        """A query that already fetched the row saves the loader a round trip."""
        self.prime(user.id, user, force=True)
