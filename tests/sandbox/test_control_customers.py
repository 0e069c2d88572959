"""The control API's list of the scenario's customers, as `make run` prints them."""

from sandbox.testing import SandboxHandle


def test_every_customer_of_the_scenario_is_listed_with_its_name_domain_and_acceptance(sandbox: SandboxHandle):
    listed = {item["key"]: item for item in sandbox.customers()}

    assert set(listed) == set(sandbox.ids.customers)
    contoso, fabrikam = listed["contoso"], listed["fabrikam"]
    assert contoso["tenantId"] == sandbox.customer("contoso")
    assert (contoso["name"], contoso["domain"], contoso["country"]) == (
        "Contoso Sandbox Ltd",
        "contososandbox.onmicrosoft.com",
        "US",
    )
    assert (contoso["accepted"], fabrikam["accepted"]) == (True, False)
