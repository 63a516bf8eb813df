"""Which paths are Live endpoints and where credentials are found (spec §1, §1.6)."""

from __future__ import annotations

import pytest

from openlive.protocol.endpoint import (
    Credentials,
    LiveEndpoint,
    extract_credentials,
    normalize_path,
    parse_live_path,
)

VERSIONS = ["v1", "v1beta", "v1alpha"]
METHODS = ["BidiGenerateContent", "BidiGenerateContentConstrained"]
PREFIXES = ["", "/", "//", "/proxy/prefix", "/proxy/prefix/", "//a//b//", "/ws"]


def live_path(version: str, method: str, prefix: str = "") -> str:
    return f"{prefix}/ws/google.ai.generativelanguage.{version}.GenerativeService.{method}"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("prefix", PREFIXES)
def test_every_version_method_and_prefix(version: str, method: str, prefix: str) -> None:
    assert parse_live_path(live_path(version, method, prefix)) == LiveEndpoint(version, method)


@pytest.mark.parametrize(
    "path",
    [
        # what the SDKs sent (spec §1.2)
        "/ws/google.ai.generativelanguage.v1.GenerativeService.BidiGenerateContent",
        "//ws/google.ai.generativelanguage.v1.GenerativeService.BidiGenerateContent",
        "/proxy/prefix/ws/google.ai.generativelanguage.v1.GenerativeService.BidiGenerateContent",
        # slashes doubled anywhere
        "/ws//google.ai.generativelanguage.v1.GenerativeService.BidiGenerateContent",
        "///ws///google.ai.generativelanguage.v1.GenerativeService.BidiGenerateContent",
    ],
)
def test_doubled_slashes_and_prefixes(path: str) -> None:
    assert parse_live_path(path) == LiveEndpoint("v1", "BidiGenerateContent")


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/",
        "/ws",
        "/ws/",
        "/v1alpha/auth_tokens",  # the REST token endpoint
        "/v1beta/models",
        # unknown version or method, or wrong case
        "/ws/google.ai.generativelanguage.v2.GenerativeService.BidiGenerateContent",
        "/ws/google.ai.generativelanguage.v1beta1.GenerativeService.BidiGenerateContent",
        "/ws/google.ai.generativelanguage.V1.GenerativeService.BidiGenerateContent",
        "/ws/google.ai.generativelanguage.v1.GenerativeService.GenerateContent",
        "/ws/google.ai.generativelanguage.v1.GenerativeService.bidigeneratecontent",
        "/ws/google.ai.generativelanguage.v1.GenerativeService.BidiGenerateContentX",
        "/ws/google.ai.generativelanguage.v1.GenerativeService.BidiGenerateContentConstrained2",
        "/ws/google.ai.generativelanguage.v1.OtherService.BidiGenerateContent",
        # dots are literal
        "/ws/googleXai.generativelanguage.v1.GenerativeService.BidiGenerateContent",
        "/ws/google.ai.generativelanguageXv1.GenerativeService.BidiGenerateContent",
        # "/ws/" must be a whole path segment, and the method must end the path
        "/xws/google.ai.generativelanguage.v1.GenerativeService.BidiGenerateContent",
        "ws/google.ai.generativelanguage.v1.GenerativeService.BidiGenerateContent",
        "/ws/google.ai.generativelanguage.v1.GenerativeService.BidiGenerateContent/",
        "/ws/google.ai.generativelanguage.v1.GenerativeService.BidiGenerateContent/x",
        "/ws/google.ai.generativelanguage.v1.GenerativeService.BidiGenerateContent\n",
        "/ws/google.ai.generativelanguage.v1.GenerativeService.BidiGenerateContent.json",
        # the path is given without its query string
        "/ws/google.ai.generativelanguage.v1.GenerativeService.BidiGenerateContent?key=K",
        # Vertex AI's endpoint is not served
        "/ws/google.cloud.aiplatform.v1.LlmBidiService/BidiGenerateContent",
    ],
)
def test_non_matching_paths(path: str) -> None:
    assert parse_live_path(path) is None


def test_normalize_path_collapses_slashes_only() -> None:
    assert normalize_path("//a///b/c//") == "/a/b/c/"
    assert normalize_path("/v1alpha/auth_tokens") == "/v1alpha/auth_tokens"


# --- credentials ---------------------------------------------------------------------------

KEY = "TEST_API_KEY"
TOKEN = "auth_tokens/capture-token-xyz"


@pytest.mark.parametrize(
    ("query", "headers", "expected"),
    [
        # API key: JS and python-genai ≤1.25 use ?key=, newer Python the header, 1.20 both
        ({"key": KEY}, {}, Credentials(api_key=KEY)),
        ({}, {"x-goog-api-key": KEY}, Credentials(api_key=KEY)),
        ({"key": KEY}, {"x-goog-api-key": KEY}, Credentials(api_key=KEY)),
        (
            {"key": "from-query"},
            {"x-goog-api-key": "from-header"},
            Credentials(api_key="from-query"),
        ),
        ({"key": ""}, {"x-goog-api-key": KEY}, Credentials(api_key=KEY)),
        # ephemeral token: Python sends Authorization: Token … and x-goog-api-key: auth_tokens/…
        (
            {},
            {"authorization": f"Token {TOKEN}", "x-goog-api-key": TOKEN},
            Credentials(token=TOKEN),
        ),
        ({}, {"authorization": f"Token {TOKEN}"}, Credentials(token=TOKEN)),
        ({}, {"authorization": f"token   {TOKEN}  "}, Credentials(token=TOKEN)),
        ({}, {"authorization": f"TOKEN {TOKEN}"}, Credentials(token=TOKEN)),
        ({}, {"x-goog-api-key": TOKEN}, Credentials(token=TOKEN)),
        # JS: ?access_token=auth_tokens/… (slash not escaped)
        ({"access_token": TOKEN}, {}, Credentials(token=TOKEN)),
        ({"key": TOKEN}, {}, Credentials(token=TOKEN)),
        # a token wins over a key presented alongside it
        ({"access_token": TOKEN}, {"x-goog-api-key": KEY}, Credentials(token=TOKEN)),
        ({}, {"authorization": f"Token {TOKEN}", "x-goog-api-key": KEY}, Credentials(token=TOKEN)),
        # nothing usable
        ({}, {}, Credentials()),
        ({"key": "", "access_token": ""}, {"x-goog-api-key": ""}, Credentials()),
        ({}, {"authorization": "Token "}, Credentials()),
        ({}, {"authorization": "Bearer ya29.x"}, Credentials()),  # Vertex OAuth, not served
        ({}, {"authorization": "Tokenauth_tokens/x"}, Credentials()),
        ({}, {"authorization": "Bearer ya29.x", "x-goog-api-key": KEY}, Credentials(api_key=KEY)),
    ],
)
def test_extract_credentials(
    query: dict[str, str], headers: dict[str, str], expected: Credentials
) -> None:
    assert extract_credentials(query, headers) == expected


def test_credentials_carry_either_a_key_or_a_token() -> None:
    credentials = extract_credentials({"access_token": TOKEN, "key": KEY}, {})
    assert credentials.token == TOKEN and credentials.api_key is None
