"""Settings: typed, read once, and failing with a message that names the setting."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from shared.settings import MICROSOFT_SKU_REFERENCE_URL, SettingError, Settings
from shared.store.quota import Quota

PARTNER = "11111111-2222-4333-8444-555555555555"


def test_defaults_are_the_public_microsoft_endpoints() -> None:
    settings = Settings({})

    assert settings.partner_center_endpoint == "https://api.partnercenter.microsoft.com"
    assert settings.graph_endpoint == "https://graph.microsoft.com"
    assert settings.authority_host == "https://login.microsoftonline.com"
    assert settings.webhook_cert_hosts == frozenset({"3psostorageacct.blob.core.windows.net"})
    assert settings.webhook_trust_roots is None
    assert settings.expiry_lead_days == 7
    assert settings.sku_reference_url == MICROSOFT_SKU_REFERENCE_URL
    assert settings.storage.connection_string == "UseDevelopmentStorage=true"


def test_missing_secret_fails_only_when_used_and_names_the_setting() -> None:
    settings = Settings({"PARTNER_TENANT_ID": PARTNER})

    assert settings.partner_tenant_id == PARTNER
    with pytest.raises(SettingError, match="PARTNER_REFRESH_TOKEN is not set"):
        _ = settings.partner_refresh_token


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("PARTNER_TENANT_ID", "contoso", "PARTNER_TENANT_ID: expected a GUID"),
        ("PARTNER_CENTER_ENDPOINT", "http://api.example", "PARTNER_CENTER_ENDPOINT: expected an https://"),
        ("PARTNER_COUNTRY", "XX", "PARTNER_COUNTRY: 'XX' is not an ISO 3166-1 alpha-2 code"),
        ("EXPIRY_LEAD_DAYS", "-3", "EXPIRY_LEAD_DAYS: expected a whole number of days"),
        ("WEBHOOK_CERT_HOSTS", "good.example,bad host", "WEBHOOK_CERT_HOSTS: expected comma-separated"),
        ("WEBHOOK_TRUST_ROOTS", "/nonexistent/roots.pem", "WEBHOOK_TRUST_ROOTS: expected a PEM bundle"),
        ("GDAP_SECURITY_GROUP_ID", "CSP admins", "GDAP_SECURITY_GROUP_ID: expected a GUID"),
        ("GDAP_AFTER_COMPLETION", "keep", "GDAP_AFTER_COMPLETION: expected end or reduce"),
    ],
)
def test_malformed_setting_names_itself_and_what_it_expects(name: str, value: str, expected: str) -> None:
    settings = Settings({name: value})
    attribute = name.lower()

    with pytest.raises(SettingError, match=expected.replace("(", r"\(")):
        getattr(settings, attribute)


def test_the_gdap_group_is_required_and_the_relationship_is_reduced_after_completion_by_default() -> None:
    settings = Settings({"GDAP_AFTER_COMPLETION": "End"})

    with pytest.raises(SettingError, match="GDAP_SECURITY_GROUP_ID is not set"):
        _ = settings.gdap_security_group_id
    assert settings.gdap_after_completion == "end"
    assert Settings({}).gdap_after_completion == "reduce"


def test_identity_based_storage_uses_service_uris_and_the_managed_identity() -> None:
    client = "99999999-8888-4777-8666-555555555555"
    storage = Settings(
        {
            "AzureWebJobsStorage__tableServiceUri": "https://acct.table.core.windows.net/",
            "AzureWebJobsStorage__queueServiceUri": "https://acct.queue.core.windows.net",
            "AzureWebJobsStorage__credential": "managedidentity",
            "AzureWebJobsStorage__clientId": client,
        }
    ).storage

    assert storage.connection_string is None  # the app's identity reaches storage
    assert storage.table_service_uri == "https://acct.table.core.windows.net"
    assert (storage.credential, storage.client_id) == ("managedidentity", client)


def test_identity_based_storage_without_a_queue_uri_is_refused() -> None:
    settings = Settings({"AzureWebJobsStorage__tableServiceUri": "https://acct.table.core.windows.net"})
    with pytest.raises(SettingError, match="needs both"):
        _ = settings.storage


def test_settings_are_read_once() -> None:
    environ = {"EXPIRY_LEAD_DAYS": "10"}
    settings = Settings(environ)
    environ["EXPIRY_LEAD_DAYS"] = "20"
    assert settings.expiry_lead_days == 10


def test_unresolved_key_vault_reference_is_an_error_not_a_secret() -> None:
    reference = "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/partner-refresh-token)"
    settings = Settings({"PARTNER_REFRESH_TOKEN": reference})

    with pytest.raises(SettingError, match="PARTNER_REFRESH_TOKEN is an unresolved Key Vault reference"):
        _ = settings.partner_refresh_token


@pytest.mark.parametrize(
    "value",
    [
        "https://api.example:99999",
        "https://api.example:abc",
        "https://api.example:0",
        "https://api example",
        "https://api.example/a b",
        "https://api.example/\x07",
        "https://api.example\x00",
        "https://",
        "https://:443",
        "https://[::1",
        "https://[not-an-ip]",
        "https://user:secret@api.example",
        "https://api.example/?q=1",
        "https://api.example/#frag",
        "https://bad_host!.example",
        "ftp://api.example",
    ],
)
def test_malformed_endpoint_url_is_refused_naming_the_setting(value: str) -> None:
    settings = Settings({"GRAPH_ENDPOINT": value})

    with pytest.raises(SettingError, match=r"^GRAPH_ENDPOINT: ") as raised:
        _ = settings.graph_endpoint
    assert raised.value.setting == "GRAPH_ENDPOINT"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://graph.example:8443/", "https://graph.example:8443"),
        ("https://127.0.0.1:50123/graph", "https://127.0.0.1:50123/graph"),
        ("https://[::1]:443", "https://[::1]:443"),
    ],
)
def test_well_formed_endpoint_url_is_accepted(value: str, expected: str) -> None:
    assert Settings({"GRAPH_ENDPOINT": value}).graph_endpoint == expected


@pytest.mark.parametrize("value", ["²", "①", "٣", "+7", "7 days", "7.0", "1_0", "91", "-0", "9" * 5000])
def test_expiry_lead_days_takes_only_ascii_digits_within_zero_to_ninety(value: str) -> None:
    settings = Settings({"EXPIRY_LEAD_DAYS": value})

    with pytest.raises(SettingError, match="EXPIRY_LEAD_DAYS: expected a whole number of days from 0 to 90"):
        _ = settings.expiry_lead_days


def test_expiry_lead_days_bounds_are_accepted() -> None:
    assert Settings({"EXPIRY_LEAD_DAYS": "0"}).expiry_lead_days == 0
    assert Settings({"EXPIRY_LEAD_DAYS": "90"}).expiry_lead_days == 90


def test_originals_are_read_every_six_hours_unless_a_whole_number_of_hours_up_to_24_says_otherwise() -> None:
    assert Settings({}).originals_read_hours == 6
    assert [Settings({"ORIGINALS_READ_HOURS": v}).originals_read_hours for v in ("0", "24")] == [0, 24]
    for bad in ("25", "-1", "1.5", "６"):
        with pytest.raises(
            SettingError, match="ORIGINALS_READ_HOURS: expected a whole number of hours from 0 to 24"
        ):
            _ = Settings({"ORIGINALS_READ_HOURS": bad}).originals_read_hours


@pytest.mark.parametrize("form", ["https://downloads.example/sku.csv?sv=1&sig=x", "{path}", "file://{path}"])
def test_sku_reference_url_accepts_https_or_the_path_of_a_readable_file(form: str, tmp_path: Path) -> None:
    path = tmp_path / "sku.csv"
    path.write_text("GUID\n")
    value = form.format(path=path)

    assert Settings({"SKU_REFERENCE_URL": value}).sku_reference_url == value


@pytest.mark.parametrize("where", ["missing.csv", "a-folder", "C:\\data\\sku.csv"])
def test_sku_reference_file_that_cannot_be_read_is_named(where: str, tmp_path: Path) -> None:
    (tmp_path / "a-folder").mkdir()
    value = where if where.startswith("C:") else str(tmp_path / where)  # a Windows drive: a path too

    with pytest.raises(
        SettingError, match=r"^SKU_REFERENCE_URL: expected a readable file, .* cannot be read"
    ):
        _ = Settings({"SKU_REFERENCE_URL": value}).sku_reference_url


@pytest.mark.parametrize(
    "value",
    [
        "http://downloads.example/sku.csv",
        "ftp://downloads.example/sku.csv",
        "https://[::1",
        "/tmp/a\x00b.csv",
    ],
)
def test_sku_reference_url_refuses_anything_else_naming_the_setting(value: str) -> None:
    with pytest.raises(SettingError, match=r"^SKU_REFERENCE_URL: "):
        _ = Settings({"SKU_REFERENCE_URL": value}).sku_reference_url


KEY = "c2VjcmV0LWFjY291bnQta2V5"


@pytest.mark.parametrize(
    "value",
    [
        "UseDevelopmentStorage=true",
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={KEY};"
        "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;QueueEndpoint=http://localhost:10001/devstoreaccount1;",
        f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={KEY};EndpointSuffix=core.windows.net",
        f"AccountName=acct;AccountKey={KEY};TableEndpoint=http://[::1]:10002/acct",
    ],
)
def test_storage_connection_string_accepts_https_or_the_local_emulator(value: str) -> None:
    assert Settings({"AzureWebJobsStorage": value}).storage.connection_string == value


@pytest.mark.parametrize(
    "value",
    [
        f"DefaultEndpointsProtocol=http;AccountName=acct;AccountKey={KEY};EndpointSuffix=core.windows.net",
        f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={KEY};"
        "TableEndpoint=http://acct.table.core.windows.net",
        f"AccountName=acct;AccountKey={KEY};TableEndpoint=http://127.0.0.1:10002/a;"
        "QueueEndpoint=http://10.0.0.5:10001/a",
        "not a connection string",
    ],
)
def test_storage_connection_string_with_remote_http_is_refused_without_quoting_the_key(value: str) -> None:
    with pytest.raises(SettingError, match=r"^AzureWebJobsStorage: ") as raised:
        _ = Settings({"AzureWebJobsStorage": value}).storage

    assert KEY not in str(raised.value)
    assert raised.value.setting == "AzureWebJobsStorage"


@pytest.mark.parametrize(
    "value",
    [
        "AccountName=acct",
        "Foo=bar",
        f"AccountKey={KEY}",
        f"AccountKey={KEY};TableEndpoint=https://a.table.core.windows.net;"
        "QueueEndpoint=https://a.queue.core.windows.net",
        "SharedAccessSignature=sv=1&sig=x",
    ],
)
def test_storage_connection_string_the_storage_sdks_cannot_use_is_named_without_quoting_it(
    value: str,
) -> None:
    with pytest.raises(
        SettingError, match=r"^AzureWebJobsStorage: .*needs AccountName and AccountKey"
    ) as raised:
        _ = Settings({"AzureWebJobsStorage": value}).storage

    assert KEY not in str(raised.value)


def test_storage_connection_repr_never_shows_the_account_key() -> None:
    value = (
        f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={KEY};EndpointSuffix=core.windows.net"
    )
    storage = Settings({"AzureWebJobsStorage": value}).storage

    assert KEY not in repr(storage)
    assert KEY not in str(storage)


@pytest.mark.parametrize(
    "uri", ["http://acct.table.core.windows.net", "https://", "https://acct.table.core.windows.net:99999"]
)
def test_identity_based_storage_uri_must_be_https_with_a_host(uri: str) -> None:
    settings = Settings(
        {
            "AzureWebJobsStorage__tableServiceUri": uri,
            "AzureWebJobsStorage__queueServiceUri": "https://acct.queue.core.windows.net",
        }
    )

    with pytest.raises(SettingError, match=r"^AzureWebJobsStorage__tableServiceUri: "):
        _ = settings.storage


def test_refresh_token_secret_uri_is_optional_and_versionless() -> None:
    uri = "https://kv-abc.vault.azure.net/secrets/partner-refresh-token"

    assert Settings({}).partner_refresh_token_secret_uri is None
    assert Settings({"PARTNER_REFRESH_TOKEN_SECRET_URI": uri + "/"}).partner_refresh_token_secret_uri == uri


@pytest.mark.parametrize(
    "value",
    [
        "http://kv-abc.vault.azure.net/secrets/partner-refresh-token",
        "https://kv-abc.vault.azure.net/secrets/partner-refresh-token/0123456789abcdef0123456789abcdef",
        "https://kv-abc.vault.azure.net/keys/partner-refresh-token",
        "https://kv-abc.vault.azure.net/secrets/partner_refresh_token",
        "https://kv-abc.vault.azure.net/secrets/partner-refresh-token?api-version=7.5",
        "@Microsoft.KeyVault(SecretUri=https://kv-abc.vault.azure.net/secrets/partner-refresh-token)",
    ],
)
def test_refresh_token_secret_uri_must_name_one_secret_without_version(value: str) -> None:
    with pytest.raises(SettingError, match="PARTNER_REFRESH_TOKEN_SECRET_URI"):
        _ = Settings({"PARTNER_REFRESH_TOKEN_SECRET_URI": value}).partner_refresh_token_secret_uri


SECRET_URL = "https://ops:hunter2@host.example/secrets/x?sig=s3cret"


@pytest.mark.parametrize(
    ("name", "read"),
    [
        ("PARTNER_CENTER_ENDPOINT", lambda s: s.partner_center_endpoint),
        ("GRAPH_ENDPOINT", lambda s: s.graph_endpoint),
        ("AUTHORITY_HOST", lambda s: s.authority_host),
        ("SKU_REFERENCE_URL", lambda s: s.sku_reference_url),
        ("PARTNER_REFRESH_TOKEN_SECRET_URI", lambda s: s.partner_refresh_token_secret_uri),
        ("AzureWebJobsStorage__tableServiceUri", lambda s: s.storage),
    ],
)
def test_a_url_setting_with_a_password_is_named_without_quoting_the_password(
    name: str, read: Callable[[Settings], object]
) -> None:
    queue = {"AzureWebJobsStorage__queueServiceUri": "https://acct.queue.core.windows.net"}
    with pytest.raises(SettingError) as raised:
        read(Settings({name: SECRET_URL, **queue}))

    assert raised.value.setting == name
    assert "host.example" in str(raised.value)
    assert "hunter2" not in str(raised.value)
    assert "s3cret" not in str(raised.value)


def test_the_quotas_default_to_microsofts_documented_ones_and_take_calls_per_seconds() -> None:
    assert Settings({}).quotas == (Quota(500, 60.0), Quota(3000, 150.0))
    assert Settings({"PARTNER_CENTER_QUOTA": "400/60", "GRAPH_WRITE_QUOTA": "3000/15"}).quotas == (
        Quota(400, 60.0),
        Quota(3000, 15.0),
    )
    for name, bad in (("PARTNER_CENTER_QUOTA", "500 a minute"), ("GRAPH_WRITE_QUOTA", "3000/0")):
        with pytest.raises(SettingError, match=f"{name}: expected calls/seconds such as"):
            _ = Settings({name: bad}).quotas
