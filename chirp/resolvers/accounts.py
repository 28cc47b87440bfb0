"""Sign-up, log-in and log-out."""

from __future__ import annotations

from chirp.resolvers import ChirpInfo
from chirp.services import accounts
from chirp.services.accounts import AuthResult


async def sign_up(
    info: ChirpInfo, handle: str, password: str, display_name: str | None = None
) -> AuthResult:
    ctx = info.context
    result = await accounts.sign_up(
        ctx.rt, handle=handle, password=password, display_name=display_name
    )
    ctx.loaders.user_by_id.prime_record(result.user)
    return result


async def log_in(info: ChirpInfo, handle: str, password: str) -> AuthResult:
    ctx = info.context
    result = await accounts.log_in(ctx.rt, handle=handle, password=password)
    ctx.loaders.user_by_id.prime_record(result.user)
    return result


async def log_out(info: ChirpInfo) -> bool:
    ctx = info.context
    await ctx.require_viewer_id()
    assert ctx.token is not None
    return await accounts.log_out(ctx.rt, token=ctx.token)
