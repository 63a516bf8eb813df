"""The playground's HTTP routes on the real ASGI app: its files, its options, and who
gets a token without a key (a page on the server's machine, nobody else)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from openlive.catalog import ModelCatalog
from openlive.runtime.engines import Engines
from openlive.server.app import OpenLiveApp, Services
from openlive.server.auth import Authenticator
from openlive.session.lifetime import ConnectionLimits
from openlive.store.sqlite import SqliteStore
from tests.fakes.llm import create as fake_llm

LOCAL = ("127.0.0.1", 50000)


def make_app(store: SqliteStore | None, playground: bool = True) -> OpenLiveApp:
    services = Services(catalog=ModelCatalog(), engines=Engines({"default": fake_llm()}),
                        auth=Authenticator(store), limits=ConnectionLimits(),
                        resumption_ttl=60.0, store=store, playground=playground)
    return OpenLiveApp(services)


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "openlive.db")


@pytest.fixture
async def local(store: SqliteStore) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(store), client=LOCAL)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as c:
        yield c


async def test_the_page_and_its_files_are_served(local: httpx.AsyncClient) -> None:
    page = await local.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/playground/playground.js" in page.text
    assert page.headers["x-frame-options"] == "DENY"
    for name, kind in (("playground.js", "text/javascript"), ("capture-worklet.js",
                       "text/javascript"), ("playground.css", "text/css")):
        response = await local.get(f"/playground/{name}")
        assert response.status_code == 200 and response.headers["content-type"].startswith(kind)
    for path in ("/playground/__init__.py", "/playground/..%2Fcli.py", "/playground/nope.js",
                 "/index.html", "/playground/.hidden.js"):
        assert (await local.get(path)).status_code == 404, path


async def test_the_options_are_the_live_apis_vocabulary(local: httpx.AsyncClient) -> None:
    options = (await local.get("/playground/options")).json()
    assert len(options["voices"]) == 30 and options["default_voice"] == "Puck"
    assert "en-US" in options["languages"] and options["default_model"] in options["models"]
    assert options["auth"] == "token" and options["voice"] is False


async def test_a_local_page_gets_a_one_session_token_of_the_playground_key(
        local: httpx.AsyncClient, store: SqliteStore) -> None:
    response = await local.post("/playground/token",
                                headers={"origin": "http://127.0.0.1:8080"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"].startswith("auth_tokens/") and body["uses"] == 1
    [key] = store.list_keys()
    assert key.name == "playground"
    [token] = store.list_tokens(key.id)
    assert token.new_session_expire_time - token.created_at <= 61
    await local.post("/playground/token")  # the same key again, not a new one
    assert len(store.list_keys()) == 1 and len(store.list_tokens(key.id)) == 2


@pytest.mark.parametrize(("client", "headers", "why"), [
    (("10.1.2.3", 5000), {}, "not on the server's machine"),
    (LOCAL, {"x-forwarded-for": "10.1.2.3"}, "through a proxy"),
    (LOCAL, {"forwarded": "for=10.1.2.3"}, "through a proxy"),
    (LOCAL, {"host": "evil.example:8080"}, "not opened at a loopback address"),
    (LOCAL, {"origin": "http://evil.example"}, "from another site"),
])
async def test_no_token_without_a_key_for_anyone_else(
        store: SqliteStore, client: tuple[str, int], headers: dict[str, str], why: str) -> None:
    transport = httpx.ASGITransport(app=make_app(store), client=client)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as c:
        response = await c.post("/playground/token", headers=headers)
    assert response.status_code == 403 and why in response.json()["error"]["message"]
    assert store.list_keys() == []


async def test_a_revoked_playground_key_stays_revoked(local: httpx.AsyncClient,
                                                      store: SqliteStore) -> None:
    key, _ = store.create_key("playground")
    store.revoke_key(key.id)
    response = await local.post("/playground/token")
    assert response.status_code == 403 and "revoked" in response.text
    assert len(store.list_keys()) == 1


async def test_without_authentication_no_token_is_needed() -> None:
    transport = httpx.ASGITransport(app=make_app(None), client=LOCAL)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as c:
        assert (await c.get("/playground/options")).json()["auth"] == "none"
        assert (await c.post("/playground/token")).status_code == 400


async def test_latency_of_an_unknown_session_is_not_found(local: httpx.AsyncClient) -> None:
    assert (await local.get("/playground/latency?session=0123456789abcdef")).status_code == 404


async def test_the_playground_can_be_turned_off(store: SqliteStore) -> None:
    transport = httpx.ASGITransport(app=make_app(store, playground=False), client=LOCAL)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as c:
        for path in ("/", "/playground/options", "/playground/playground.js"):
            assert (await c.get(path)).status_code == 404
        assert (await c.post("/playground/token")).status_code == 404
