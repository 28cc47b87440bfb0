"""Accounts: sign-up, log-in, tokens and profiles.

The rules of the contract live here: handle shape and case-insensitive
uniqueness, argon2 password hashes, opaque revocable tokens (Postgres is the
record, Redis a cache), and profile field limits.

Accounts never depend on Redis: the token cache (:mod:`chirp.persistence.tokens`)
answers "miss" and skips its writes while Redis is down or slow, so sign-up,
log-in, log-out and authentication run on Postgres alone, and a revocation made
meanwhile is written to the cache before it is trusted again.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from chirp.errors import BadUserInput, Conflict, NotFound, Unauthenticated
from chirp.persistence import tokens, users
from chirp.persistence.users import HandleTaken, UserRecord
from chirp.runtime import Runtime

HANDLE_PATTERN = re.compile(r"[A-Za-z0-9_]{3,15}")
#: NIST SP 800-63B asks for at least 8 characters.
MIN_PASSWORD_LENGTH = 8
#: Long enough for any passphrase; bounds the work one sign-up can ask for.
MAX_PASSWORD_LENGTH = 1024
#: Twitter's limits, which clients' layouts are built around.
MAX_DISPLAY_NAME_LENGTH = 50
MAX_BIO_LENGTH = 160
#: Prefix makes leaked tokens easy to spot for secret scanners.
TOKEN_PREFIX = "chirp_"
#: 256 bits of randomness per token.
TOKEN_BYTES = 32


@dataclass(frozen=True, slots=True)
class AuthResult:
    token: str
    user: UserRecord


@cache
def password_hasher() -> PasswordHasher:
    """argon2id with the RFC 9106 low-memory profile (argon2-cffi's default)."""
    return PasswordHasher()


@cache
def _decoy_hash() -> str:
    """Verified against for unknown handles, so log-in time does not reveal them."""
    return password_hasher().hash(secrets.token_urlsafe(16))


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def normalize_handle(handle: str) -> str:
    """Handles may be written with a leading ``@``."""
    return handle.strip().removeprefix("@")


def _validate_handle(handle: str) -> str:
    if not HANDLE_PATTERN.fullmatch(handle):
        raise BadUserInput("Handles are 3 to 15 letters, digits or underscores.", field="handle")
    return handle


def _validate_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadUserInput(
            f"Passwords need at least {MIN_PASSWORD_LENGTH} characters.", field="password"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise BadUserInput(
            f"Passwords can have at most {MAX_PASSWORD_LENGTH} characters.", field="password"
        )
    return password


def _clean_text(value: str, *, field: str, max_length: int, single_line: bool) -> str:
    """NFC-normalise and trim; reject over-long text and control characters."""
    text = unicodedata.normalize("NFC", value).strip()
    if len(text) > max_length:
        raise BadUserInput(f"{field} can have at most {max_length} characters.", field=field)
    allowed = "" if single_line else "\n"
    if any(unicodedata.category(c) == "Cc" and c not in allowed for c in text):
        raise BadUserInput(f"{field} cannot contain control characters.", field=field)
    return text


def _clean_display_name(value: str) -> str:
    name = _clean_text(
        value, field="displayName", max_length=MAX_DISPLAY_NAME_LENGTH, single_line=True
    )
    if not name:
        raise BadUserInput("displayName cannot be empty.", field="displayName")
    return name


async def _issue_token(rt: Runtime, user: UserRecord) -> AuthResult:
    """The token is live once its Postgres row is; caching it is best effort."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    digest = token_digest(token)
    await tokens.insert_token(rt.db, digest=digest, user_id=user.id)
    await tokens.cache_user_id(rt.redis, digest=digest, user_id=user.id)
    return AuthResult(token=token, user=user)


async def sign_up(
    rt: Runtime, *, handle: str, password: str, display_name: str | None
) -> AuthResult:
    handle = _validate_handle(normalize_handle(handle))
    _validate_password(password)
    name = handle if display_name is None else _clean_display_name(display_name)
    if await users.user_by_handle(rt.db, handle) is not None:
        raise Conflict(f"The handle {handle!r} is taken.", field="handle")
    password_hash = await asyncio.to_thread(password_hasher().hash, password)
    try:
        user = await users.insert_user(
            rt.db,
            user_id=rt.ids.next_id(),
            handle=handle,
            display_name=name,
            password_hash=password_hash,
        )
    except HandleTaken:  # lost a race with a concurrent sign-up
        raise Conflict(f"The handle {handle!r} is taken.", field="handle") from None
    return await _issue_token(rt, user)


async def log_in(rt: Runtime, *, handle: str, password: str) -> AuthResult:
    found = await users.credentials_by_handle(rt.db, normalize_handle(handle))
    stored_hash = found[1] if found else _decoy_hash()
    try:
        await asyncio.to_thread(password_hasher().verify, stored_hash, password)
    except (VerificationError, InvalidHashError):
        found = None
    if found is None:
        raise Unauthenticated("Invalid handle or password.")
    user, stored_hash = found
    if password_hasher().check_needs_rehash(stored_hash):
        new_hash = await asyncio.to_thread(password_hasher().hash, password)
        await users.set_password_hash(rt.db, user_id=user.id, password_hash=new_hash)
    return await _issue_token(rt, user)


async def log_out(rt: Runtime, *, token: str) -> bool:
    """Revoke the token everywhere; True if it was live. Deleting the Postgres
    row revokes it; the cache tombstone follows when Redis can take it."""
    digest = token_digest(token)
    revoked = await tokens.delete_token(rt.db, digest=digest)
    await tokens.uncache(rt.redis, digest=digest)
    return revoked


async def authenticate(rt: Runtime, *, token: str) -> int:
    """The id of the token's owner, or ``UNAUTHENTICATED`` when it is not live.
    The cache answers first; a miss (or an unavailable Redis) asks Postgres."""
    digest = token_digest(token)
    cached = await tokens.cached_user_id(rt.redis, digest=digest)
    if cached is False:
        raise Unauthenticated("This token is invalid or was revoked.")
    if cached is not None:
        return cached
    user_id = await tokens.user_id_for_token(rt.db, digest=digest)
    await tokens.cache_user_id(rt.redis, digest=digest, user_id=user_id)
    if user_id is None:
        raise Unauthenticated("This token is invalid or was revoked.")
    return user_id


async def user_by_handle(rt: Runtime, *, handle: str) -> UserRecord | None:
    """Case-insensitive, with or without the leading ``@``."""
    return await users.user_by_handle(rt.db.read, normalize_handle(handle))


async def update_profile(
    rt: Runtime, *, user_id: int, display_name: str | None, bio: str | None
) -> UserRecord:
    name = None if display_name is None else _clean_display_name(display_name)
    about = (
        None
        if bio is None
        else _clean_text(bio, field="bio", max_length=MAX_BIO_LENGTH, single_line=False)
    )
    user = await users.update_profile(rt.db, user_id=user_id, display_name=name, bio=about)
    if user is None:
        raise NotFound("This account no longer exists.")
    return user
