"""Token verification: every claim failure is refused, keys decide the algorithms."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from chat_service.config import SettingsError, load_settings
from chat_service.identity import TokenVerifier, Unauthorized, bearer

SECRET = "s" * 32


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"sub": "u-1", "name": "Ann", "exp": int(time.time()) + 60}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def hs(payload: dict[str, Any], secret: str = SECRET, **headers: Any) -> str:
    return jwt.encode(payload, secret, algorithm="HS256", headers=headers or None)


def pem_files(tmp_path: Path) -> tuple[Any, Path, Any, Path]:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    paths = []
    for name, key in (("rsa.pem", rsa_key), ("ec.pem", ec_key)):
        path = tmp_path / name
        path.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        paths.append(path)
    return rsa_key, paths[0], ec_key, paths[1]


class TestSecret:
    def test_valid_token(self) -> None:
        """sub, name, exp and rooms (lower-cased) come out of a valid token."""
        identity = TokenVerifier.from_secret(SECRET).verify(hs(claims(rooms=["Lobby", "den"])))
        assert ("u-1", "Ann", frozenset({"lobby", "den"})) == (
            identity.sub,
            identity.name,
            identity.rooms,
        )
        assert identity.may_use("lobby") and not identity.may_use("other")

    def test_no_rooms_means_every_room(self) -> None:
        """Without `rooms` the token allows every room."""
        identity = TokenVerifier.from_secret(SECRET).verify(hs(claims()))
        assert (None, True) == (identity.rooms, identity.may_use("anything"))

    @pytest.mark.parametrize(
        ("roles", "moderator"),
        [(None, False), ([], False), (["editor"], False), (["editor", "moderator"], True)],
    )
    def test_roles(self, roles: list[str] | None, moderator: bool) -> None:
        """The `roles` claim's "moderator" makes a moderator; absent means no roles."""
        identity = TokenVerifier.from_secret(SECRET).verify(hs(claims(roles=roles)))
        assert (frozenset(roles or ()), moderator) == (identity.roles, identity.moderator)

    @pytest.mark.parametrize("missing", ["sub", "name", "exp"])
    def test_required_claims(self, missing: str) -> None:
        """A token without sub, name or exp is refused."""
        with pytest.raises(Unauthorized):
            TokenVerifier.from_secret(SECRET).verify(hs(claims(**{missing: None})))

    @pytest.mark.parametrize(
        "bad",
        [
            {"sub": ""},
            {"sub": 5},
            {"name": "   "},
            {"name": "a" * 33},
            {"name": "bad\x00name"},
            {"rooms": "lobby"},
            {"rooms": ["ok", "not ok"]},
            {"rooms": [1]},
            {"roles": "moderator"},
            {"roles": ["moderator", 1]},
        ],
    )
    def test_bad_claim_values(self, bad: dict[str, Any]) -> None:
        """Claims of the wrong shape are refused, not trusted."""
        with pytest.raises(Unauthorized):
            TokenVerifier.from_secret(SECRET).verify(hs(claims(**bad)))

    def test_expired_with_leeway(self) -> None:
        """Expiry counts a small leeway for clock skew, and no more."""
        verifier = TokenVerifier.from_secret(SECRET, leeway=10)
        verifier.verify(hs(claims(exp=int(time.time()) - 5)))
        with pytest.raises(Unauthorized, match="expired"):
            verifier.verify(hs(claims(exp=int(time.time()) - 20)))

    def test_bad_signature(self) -> None:
        """A token signed with another secret is refused."""
        with pytest.raises(Unauthorized):
            TokenVerifier.from_secret(SECRET).verify(hs(claims(), secret="t" * 32))

    def test_alg_none(self) -> None:
        """An unsigned token (alg: none) is refused."""
        token = jwt.encode(claims(), None, algorithm="none")
        with pytest.raises(Unauthorized):
            TokenVerifier.from_secret(SECRET).verify(token)

    @pytest.mark.parametrize("token", [None, "", 5, "a.b.c", "x" * 9000, {"token": "x"}])
    def test_garbage(self, token: Any) -> None:
        """Anything that is not a token is refused with a short reason."""
        with pytest.raises(Unauthorized):
            TokenVerifier.from_secret(SECRET).verify(token)

    def test_audience_and_issuer(self) -> None:
        """aud and iss are checked when configured."""
        verifier = TokenVerifier.from_secret(SECRET, audience="chat", issuer="app")
        verifier.verify(hs(claims(aud="chat", iss="app")))
        for wrong in ({"aud": "other", "iss": "app"}, {"aud": "chat", "iss": "evil"}, {}):
            with pytest.raises(Unauthorized):
                verifier.verify(hs(claims(**wrong)))


class TestPublicKeys:
    def test_rs256_and_es256(self, tmp_path: Path) -> None:
        """An RSA key verifies RS256 tokens, an EC key ES256 ones."""
        rsa_key, rsa_path, ec_key, ec_path = pem_files(tmp_path)
        rs = TokenVerifier.from_public_key(str(rsa_path))
        es = TokenVerifier.from_public_key(str(ec_path))
        assert "u-1" == rs.verify(jwt.encode(claims(), rsa_key, algorithm="RS256")).sub
        assert "u-1" == es.verify(jwt.encode(claims(), ec_key, algorithm="ES256")).sub
        with pytest.raises(Unauthorized):
            rs.verify(jwt.encode(claims(), ec_key, algorithm="ES256"))

    def test_hs_rs_confusion(self, tmp_path: Path) -> None:
        """An HS256 token 'signed' with the public key's text is refused."""
        _, rsa_path, _, _ = pem_files(tmp_path)
        forged = jwt.encode(claims(), "x" * 32, algorithm="HS256")
        with pytest.raises(Unauthorized):
            TokenVerifier.from_public_key(str(rsa_path)).verify(forged)
        assert ("RS256",) == TokenVerifier.from_public_key(str(rsa_path)).algorithms


class TestSettings:
    @pytest.mark.parametrize(
        ("env", "message"),
        [
            ({"CHAT_AUTH_SECRET": "short"}, "at least 32 bytes"),
            ({"CHAT_AUTH_PUBLIC_KEY": "/nonexistent.pem"}, "cannot be read"),
            ({"CHAT_AUTH_SECRET": SECRET, "CHAT_AUTH_PUBLIC_KEY": "/x.pem"}, "not both"),
            ({"CHAT_AUTH_LEEWAY": "31"}, "at most 30"),
            ({"CHAT_AUTH_TOKEN_URL": "https://app.example.com/token"}, "needs identity on"),
            ({"CHAT_AUTH_SECRET": SECRET, "CHAT_AUTH_TOKEN_URL": "/token"}, "absolute http"),
            ({"CHAT_AUTH_SECRET": SECRET, "CHAT_AUTH_TOKEN_URL": "ftp://x/t"}, "absolute http"),
        ],
    )
    def test_bad_auth_settings_stop_the_node(self, env: dict[str, str], message: str) -> None:
        """A bad secret, key or leeway is one line, naming the setting."""
        with pytest.raises(SettingsError, match=message):
            load_settings(env)

    def test_not_a_pem(self, tmp_path: Path) -> None:
        """A file that is not a PEM public key is refused at start."""
        path = tmp_path / "key.pem"
        path.write_text("not a key")
        with pytest.raises(SettingsError, match="not a PEM public key"):
            load_settings({"CHAT_AUTH_PUBLIC_KEY": str(path)})

    def test_token_url(self) -> None:
        """An absolute http(s) token URL is kept as given; blank means none."""
        url = "https://app.example.com/chat/token"
        assert (
            url
            == load_settings(
                {"CHAT_AUTH_SECRET": SECRET, "CHAT_AUTH_TOKEN_URL": url}
            ).auth_token_url
        )
        assert None is load_settings({"CHAT_AUTH_TOKEN_URL": " "}).auth_token_url

    def test_identity_off_by_default(self) -> None:
        """Without a secret or key, identity is off and nothing verifies tokens."""
        settings = load_settings({})
        assert (False, None) == (settings.identity_on, settings.verifier())


class TestBearer:
    @pytest.mark.parametrize(
        ("header", "token"),
        [("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", None), ("Bearer", None)],
    )
    def test_header(self, header: str, token: str | None) -> None:
        """Only `Bearer <token>` yields a token."""
        assert token == bearer(header)
