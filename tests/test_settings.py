"""Settings: typed, read once, and failing with a message that names the setting."""

from __future__ import annotations

import pytest

from shared.settings import MICROSOFT_SKU_REFERENCE_URL, SettingError, Settings

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
    ],
)
def test_malformed_setting_names_itself_and_what_it_expects(name: str, value: str, expected: str) -> None:
    settings = Settings({name: value})
    attribute = name.lower()

    with pytest.raises(SettingError, match=expected.replace("(", r"\(")):
        getattr(settings, attribute)


def test_partner_country_gives_its_csp_region() -> None:
    assert Settings({"PARTNER_COUNTRY": "de"}).partner_region == "Europe"
    assert Settings({"PARTNER_COUNTRY": "NZ"}).partner_region == "New Zealand"


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

    assert storage.uses_identity
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
