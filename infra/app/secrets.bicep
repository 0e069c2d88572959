// The partner's two secrets, written only when a pipeline passes them in. Usually an operator stores them
// with `az keyvault secret set`, and a deployment without them leaves the vault's copies untouched.

param keyVaultName string
param clientSecretName string
param refreshTokenName string

@secure()
param partnerClientSecret string = ''

@secure()
param partnerRefreshToken string = ''

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
