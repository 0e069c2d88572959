// The partner's two secrets, written only when a pipeline passes them in. Usually an operator stores them
// with `az keyvault secret set`, and a deployment without them leaves the vault's copies untouched.
// The app may write one secret back: the refresh token Entra rotates on every use.

param keyVaultName string
param clientSecretName string
param refreshTokenName string

@description('Principal id of the app\'s user-assigned identity, which writes the rotated refresh token back.')
param identityPrincipalId string

@description('True once the refresh-token secret exists (stored by the operator), so it can carry its role assignment.')
param refreshTokenStored bool = false

@secure()
param partnerClientSecret string = ''

@secure()
param partnerRefreshToken string = ''

// Deployed here, or stored by the operator beforehand.
var refreshTokenExists = refreshTokenStored || !empty(partnerRefreshToken)

// Built-in Key Vault Secrets Officer (stable across tenants): sets new versions of a secret.
var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

resource keyVault 'Microsoft.KeyVault/vaults@2024-11-01' existing = {
  name: keyVaultName
}

resource clientSecret 'Microsoft.KeyVault/vaults/secrets@2024-11-01' = if (!empty(partnerClientSecret)) {
  parent: keyVault
  name: clientSecretName
  properties: {
    value: partnerClientSecret
  }
}

resource refreshToken 'Microsoft.KeyVault/vaults/secrets@2024-11-01' = if (!empty(partnerRefreshToken)) {
  parent: keyVault
  name: refreshTokenName
  properties: {
    value: partnerRefreshToken
  }
}

// The same secret whoever stored it, as the scope of the rotation grant below.
resource storedRefreshToken 'Microsoft.KeyVault/vaults/secrets@2024-11-01' existing = {
  parent: keyVault
  name: refreshTokenName
}

// Secrets Officer on this one secret, not the vault: the app can write back its rotated refresh token
// and nothing else (it only reads the client secret, through Key Vault Secrets User in rbac.bicep).
// A role assignment needs its scope to exist, hence the condition.
resource identityRotation 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (refreshTokenExists) {
  name: guid(storedRefreshToken.id, identityPrincipalId, keyVaultSecretsOfficer)
  scope: storedRefreshToken
  dependsOn: [
    refreshToken
  ]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}
