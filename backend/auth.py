"""Access tokens (PyJWT, HS256 only, exp/iss/aud; short-lived), single-use refresh tokens, and the
Bearer-token guard of /api/v1, which checks the account on every request (account_copies.py)
so a block takes effect at once."""
import functools
import hashlib
import secrets
import time
from datetime import timedelta

import jwt
import sqlalchemy as sa
from apiflask import HTTPTokenAuth
from flask import current_app, request
from sqlalchemy.exc import IntegrityError

from backend import account_copies, ratelimit
from backend.errors import ApiError, error_response
from backend.extensions import db
from backend.models import RefreshToken, User, utcnow
from backend.services.backoffice.accounts import refuse_blocked
from backend.services.backoffice.wechat import WeChatClient
from backend.services.jobs import ledger
from backend.transactions import write_transaction

token_auth = HTTPTokenAuth(scheme="Bearer", description="access_token from POST /api/v1/auth/login",
                           security_scheme_name="BearerAuth")


def issue_token(user):
    """A signed access token for the user; returns (token, seconds until it expires)."""
    config = current_app.config
    now = int(time.time())
    claims = {"sub": user.id, "iat": now, "exp": now + config["JWT_TTL"],
              "iss": config["JWT_ISSUER"], "aud": config["JWT_AUDIENCE"]}
    return jwt.encode(claims, config["SECRET_KEY"], algorithm="HS256"), config["JWT_TTL"]


def issue_tokens(user):
    """The login answer's tokens: a short-lived access token and a single-use refresh token."""
    access, expires_in = issue_token(user)
    refresh = secrets.token_urlsafe(32)
    ttl = current_app.config["REFRESH_TTL"]
    with write_transaction():
        db.session.add(RefreshToken(user_id=user.id, token_hash=_digest(refresh),
                                    expires_at=utcnow() + timedelta(seconds=ttl)))
    return {"access_token": access, "token_type": "Bearer", "expires_in": expires_in,
            "refresh_token": refresh, "refresh_expires_in": ttl}


def refresh(token):
    """Trade a refresh token for new tokens, once. A token used twice revokes every refresh token of its user
    (someone else has a copy); an unknown or expired one is 401, a blocked user 403."""
    now = utcnow()
    with write_transaction():
        row = db.session.scalars(sa.select(RefreshToken).where(RefreshToken.token_hash == _digest(token))).first()
        if row is None or row.expires_at <= now:
            raise ApiError("unauthorized", "The refresh token is unknown or expired; log in again with wx.login().",
                           "refresh_token")
        used = db.session.execute(
            sa.update(RefreshToken).where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None)).values(used_at=now)
        ).rowcount
        if not used:
            db.session.execute(sa.update(RefreshToken).where(RefreshToken.user_id == row.user_id,
                                                             RefreshToken.used_at.is_(None)).values(used_at=now))
        user = db.session.get(User, row.user_id)
    if not used:
        raise ApiError("unauthorized", "This refresh token was already used; log in again.", "refresh_token")
    refuse_blocked(user)
    return user


def _digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


@functools.lru_cache(maxsize=8192)
def _verified(token, secret, audience, issuer):
    """The claims of a token whose signature, issuer and audience check out, kept per process (the same token
    string always has the same claims); its expiry is checked on every use."""
    return jwt.decode(token, secret, algorithms=["HS256"], audience=audience, issuer=issuer,
                      options={"require": ["exp", "iss", "aud", "sub"], "verify_exp": False})


@token_auth.verify_token
def verify_token(token):
    """The user named by a valid token, else None (answered 401); a blocked user is 403 on every request."""
    if not token:
        return None
    config = current_app.config
    try:
        claims = _verified(token, config["SECRET_KEY"], config["JWT_AUDIENCE"], config["JWT_ISSUER"])
    except jwt.PyJWTError:
        return None
    if claims["exp"] <= time.time():
        return None
    user_id = claims["sub"]
    # One round trip: the endpoint's rate limits counted, and the account's stamp read for its cached copy.
    stamps = ratelimit.admit(ratelimit.checks_of(request.endpoint), user_id, stamps=[account_copies.stamp_key(user_id)])
    user = account_copies.user(user_id, account_copies.UNKNOWN if stamps is None else stamps[0])
    if user is not None:
        refuse_blocked(user)
    return user


@token_auth.error_processor
def auth_error(error):
    """401 in the API's error shape, saying how to get a token."""
    return error_response(401, "unauthorized", "Log in first: send Authorization: Bearer <access_token> from "
                          "POST /api/v1/auth/login (a missing, expired or invalid token gets this).")


def login(code):
    """Exchange a wx.login code for a user: WeChat's jscode2session, or dev mode's stable fake openid."""
    if not code or not code.strip():
        raise ApiError("invalid_request", "code is required (from wx.login()).", "code")
    config = current_app.config
    if config["WECHAT_APPID"]:
        session = WeChatClient.from_config(config).code2session(code.strip())
        openid, unionid = session.openid, session.unionid
    elif config["DEV_LOGIN"]:
        openid, unionid = "dev_" + hashlib.sha256(code.strip().encode()).hexdigest()[:24], None
    else:
        raise ApiError("service_unavailable", "Login is not configured on this server; the operator must set "
                       "WECHAT_APPID and WECHAT_SECRET (or VOXMOJI_DEV_LOGIN=1 for development).")
    user = user_for_openid(openid, unionid)
    refuse_blocked(user)
    try:
        with write_transaction():
            ledger.daily_allowance(user.id)
    except IntegrityError:  # already credited today
        pass
    db.session.refresh(user)
    return user


def user_for_openid(openid, unionid=None):
    """Find or create the user with this openid; a new user gets the signup grant in the same transaction."""
    user = db.session.scalars(sa.select(User).where(User.openid == openid)).first()
    if user is not None:
        if unionid and user.unionid != unionid:
            with write_transaction():
                db.session.execute(sa.update(User).where(User.id == user.id).values(unionid=unionid))
            db.session.refresh(user)
        return user
    try:
        with write_transaction():
            user = User(openid=openid, unionid=unionid, balance=0, held=0)
            db.session.add(user)
            db.session.flush()
            ledger.signup_grant(user.id, openid, unionid)
    except IntegrityError:  # two first logins at once: the other one created it
        return db.session.scalars(sa.select(User).where(User.openid == openid)).one()
    db.session.refresh(user)
    return user
